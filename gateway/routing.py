"""Who gets which waiting conversation: pure logic, no I/O.

The rule (foundation): the longest-waiting conversation of the highest priority goes
first; it goes to an available counsellor with spare capacity, the one with the fewest
open conversations first, then the one idle longest (oldest last assignment).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import CounsellorLoad, Presence, QueueEntry


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    counsellor_id: str


def _pick(counsellors: dict[str, CounsellorLoad], loads: dict[str, int]) -> str | None:
    candidates = [
        c
        for c in counsellors.values()
        if c.presence is Presence.AVAILABLE and loads[c.counsellor_id] < c.capacity
    ]
    if not candidates:
        return None
    best = min(candidates, key=lambda c: (loads[c.counsellor_id], c.last_assigned_at, c.counsellor_id))
    return best.counsellor_id


def plan_assignments(queue: list[QueueEntry], counsellors: list[CounsellorLoad]) -> list[Assignment]:
    """The assignments to try now, in order. The store applies each one atomically."""
    ordered = sorted(queue, key=lambda e: (-e.priority, e.queued_at, e.conversation_id))
    by_id = {c.counsellor_id: c for c in counsellors}
    loads = {c.counsellor_id: c.open_conversations for c in counsellors}
    plan: list[Assignment] = []
    for entry in ordered:
        chosen = _pick(by_id, loads)
        if chosen is None:
            break
        plan.append(Assignment(entry.conversation_id, chosen))
        loads[chosen] += 1
        # The chosen one just got work: it is no longer the longest idle.
        by_id[chosen] = CounsellorLoad(
            chosen, by_id[chosen].presence, loads[chosen], by_id[chosen].capacity,
            last_assigned_at=float("inf"), skills=by_id[chosen].skills,
        )
    return plan
