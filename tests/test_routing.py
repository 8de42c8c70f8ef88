"""The dispatcher's rule, as pure logic: longest waiting first, least loaded then longest idle."""

from gateway.domain.model import CounsellorLoad, Presence, QueueEntry
from gateway.domain.routing import Assignment, plan_assignments

A, P, O = Presence.AVAILABLE, Presence.PAUSED, Presence.OFFLINE


def entry(cid: str, queued_at: float, priority: int = 0) -> QueueEntry:
    return QueueEntry(cid, priority, queued_at)


def load(cid: str, open_conversations: int = 0, presence: Presence = A, capacity: int = 3,
         last: float = 0.0) -> CounsellorLoad:
    return CounsellorLoad(cid, presence, open_conversations, capacity, last)


def test_longest_waiting_conversation_is_assigned_first():
    plan = plan_assignments([entry("late", 20), entry("early", 10)], [load("c1", capacity=1)])
    assert plan == [Assignment("early", "c1")]


def test_higher_priority_goes_before_arrival_order():
    plan = plan_assignments([entry("ordinary", 1), entry("urgent", 50, priority=2)], [load("c1", capacity=1)])
    assert plan == [Assignment("urgent", "c1")]


def test_least_loaded_counsellor_is_chosen():
    plan = plan_assignments([entry("x", 1)], [load("busy", 2), load("free", 0)])
    assert plan == [Assignment("x", "free")]


def test_equal_load_goes_to_the_longest_idle():
    plan = plan_assignments([entry("x", 1)], [load("recent", 1, last=500), load("idle", 1, last=100)])
    assert plan == [Assignment("x", "idle")]


def test_work_is_spread_across_counsellors():
    plan = plan_assignments([entry(f"q{i}", i) for i in range(4)], [load("a"), load("b")])
    assert [a.counsellor_id for a in plan] == ["a", "b", "a", "b"]


def test_paused_and_offline_counsellors_get_nothing():
    assert plan_assignments([entry("x", 1)], [load("p", presence=P), load("o", presence=O)]) == []


def test_capacity_is_never_exceeded():
    plan = plan_assignments([entry(f"q{i}", i) for i in range(10)], [load("a", 1, capacity=3), load("b", capacity=2)])
    per = {cid: sum(1 for a in plan if a.counsellor_id == cid) for cid in ("a", "b")}
    assert per == {"a": 2, "b": 2}
    assert [a.conversation_id for a in plan] == ["q0", "q1", "q2", "q3"]


def test_nothing_to_do_with_an_empty_queue_or_no_counsellor():
    assert plan_assignments([], [load("a")]) == []
    assert plan_assignments([entry("x", 1)], []) == []


def skilled(cid: str, *skills: str, open_conversations: int = 0, capacity: int = 3,
            presence: Presence = A) -> CounsellorLoad:
    return CounsellorLoad(cid, presence, open_conversations, capacity, 0.0, frozenset(skills))


def test_a_required_skill_goes_to_a_counsellor_who_has_it():
    plan = plan_assignments([QueueEntry("x", 3, 1.0, "psychologue")],
                            [skilled("digital", "numerique"), skilled("psy", "psychologue", open_conversations=2)],
                            now=2.0)
    assert plan == [Assignment("x", "psy")]


def test_a_skilled_conversation_waits_briefly_for_a_full_specialist_then_goes_to_anyone():
    queue = [QueueEntry("x", 3, 100.0, "psychologue"), QueueEntry("ordinary", 0, 101.0)]
    team = [skilled("psy", "psychologue", open_conversations=1, capacity=1), skilled("other", capacity=1)]
    # Within the wait, the specialist is awaited; the ordinary one behind goes to the other.
    assert plan_assignments(queue, team, now=130.0, skill_wait=60) == [Assignment("ordinary", "other")]
    # Past it, the teen in danger is not kept waiting for the ideal counsellor.
    assert plan_assignments(queue, team, now=161.0, skill_wait=60) == [Assignment("x", "other")]


def test_nobody_with_the_skill_on_duty_means_anyone_at_once():
    queue = [QueueEntry("x", 3, 100.0, "juriste")]
    team = [skilled("lawyer", "juriste", presence=P), skilled("other", "numerique")]
    assert plan_assignments(queue, team, now=100.0) == [Assignment("x", "other")]
