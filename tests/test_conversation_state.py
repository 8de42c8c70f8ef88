"""The conversation state machine: queued → assigned → closed, and nothing else."""

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.model import TRANSITIONS, Channel, CloseReason, Conversation, ConversationState


def queued() -> Conversation:
    return Conversation("c1", Channel.WEB, "k", "Jeune 1234", ConversationState.QUEUED, opened_at=1.0, queued_at=1.0)


def test_a_queued_conversation_can_be_assigned_then_closed():
    assigned = queued().assign("camille", at=5.0)
    assert (assigned.state, assigned.counsellor_id, assigned.assigned_at) == (ConversationState.ASSIGNED, "camille", 5.0)
    closed = assigned.close(CloseReason.BY_COUNSELLOR, at=9.0)
    assert (closed.state, closed.close_reason, closed.closed_at) == (ConversationState.CLOSED, CloseReason.BY_COUNSELLOR, 9.0)
    assert closed.counsellor_id == "camille"  # kept for the record


def test_a_waiting_teen_can_leave_before_being_assigned():
    assert queued().close(CloseReason.BY_TEEN, at=2.0).state is ConversationState.CLOSED


def test_an_assigned_conversation_cannot_be_assigned_again():
    with pytest.raises(InvalidTransition):
        queued().assign("a", 1.0).assign("b", 2.0)


def test_a_closed_conversation_stays_closed():
    closed = queued().close(CloseReason.BY_TEEN, 2.0)
    with pytest.raises(InvalidTransition):
        closed.assign("a", 3.0)
    with pytest.raises(InvalidTransition):
        closed.close(CloseReason.BY_COUNSELLOR, 3.0)


def test_transitions_table_has_closed_as_the_only_end():
    ends = [state for state, targets in TRANSITIONS.items() if not targets]
    assert ends == [ConversationState.CLOSED]
    assert all(ConversationState.CLOSED in targets for state, targets in TRANSITIONS.items() if targets)


def test_delivery_state_only_moves_forward_whatever_order_receipts_arrive_in():
    from gateway.domain.model import Delivery as D
    assert D.PENDING.advance(D.SENT) is D.SENT
    assert D.SENT.advance(D.READ) is D.READ
    assert D.READ.advance(D.DELIVERED) is D.READ  # a late "delivered" after "read"
    assert D.DELIVERED.advance(D.SENT) is D.DELIVERED
    assert D.SENT.advance(D.FAILED) is D.FAILED
    assert D.FAILED.advance(D.DELIVERED) is D.FAILED
