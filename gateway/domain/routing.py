"""Who gets which waiting conversation: pure logic, no I/O.

The rule: the longest-waiting conversation of the highest priority goes first; it goes
to an available counsellor with spare capacity, the one with the fewest open conversations
first, then the one idle longest (oldest last assignment).

Skills: a conversation that requires a skill (triage: "psychologue"; a transfer to "juriste")
goes to a counsellor who has it. When none of them has room, it waits for one, but only for
`skill_wait` seconds: a teen in danger must not wait long for the ideal counsellor when
another one is free. When nobody with the skill is available at all, it goes to anyone at
once. While it waits for the skill, conversations behind it may go to counsellors without
that skill (they could not have taken it anyway).

A conversation handed over (a transfer back to the queue) never goes back to the counsellor
who handed it over while anyone else with room can take it: the others are considered first,
skills included; the one who handed it over gets it only when nobody else has room.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.model import CounsellorLoad, Presence, QueueEntry


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    counsellor_id: str


DEFAULT_SKILL_WAIT_SECONDS = 60.0


def _pick(counsellors: dict[str, CounsellorLoad], loads: dict[str, int], entry: QueueEntry,
          now: float, skill_wait: float) -> str | None:
    available = [c for c in counsellors.values() if c.presence is Presence.AVAILABLE]
    with_room = [c for c in available if loads[c.counsellor_id] < c.capacity]
    others = [c for c in with_room if c.counsellor_id != entry.handed_over_by]
    if others:  # the one who handed it over is left out, even of "someone with the skill is on duty"
        available = [c for c in available if c.counsellor_id != entry.handed_over_by]
        with_room = others
    skill = entry.required_skill
    if skill:
        skilled = [c for c in with_room if skill in c.skills]
        skilled_on_duty = any(skill in c.skills for c in available)
        if skilled or (skilled_on_duty and now - entry.queued_at < skill_wait):
            with_room = skilled  # the skill first (possibly nobody yet: wait for one)
    if not with_room:
        return None
    best = min(with_room, key=lambda c: (loads[c.counsellor_id], c.last_assigned_at, c.counsellor_id))
    return best.counsellor_id


def plan_assignments(queue: list[QueueEntry], counsellors: list[CounsellorLoad], now: float = 0.0,
                     skill_wait: float = DEFAULT_SKILL_WAIT_SECONDS) -> list[Assignment]:
    """The assignments to try now, in order. The store applies each one atomically."""
    ordered = sorted(queue, key=lambda e: (-e.priority, e.queued_at, e.conversation_id))
    by_id = {c.counsellor_id: c for c in counsellors}
    loads = {c.counsellor_id: c.open_conversations for c in counsellors}
    plan: list[Assignment] = []
    for entry in ordered:
        if not any(loads[c] < by_id[c].capacity and by_id[c].presence is Presence.AVAILABLE for c in by_id):
            break  # everyone is full
        chosen = _pick(by_id, loads, entry, now, skill_wait)
        if chosen is None:
            continue  # waits for a skill; those behind it may still go to others
        plan.append(Assignment(entry.conversation_id, chosen))
        loads[chosen] += 1
        # The chosen one just got work: it is no longer the longest idle.
        by_id[chosen] = CounsellorLoad(
            chosen, by_id[chosen].presence, loads[chosen], by_id[chosen].capacity,
            last_assigned_at=float("inf"), skills=by_id[chosen].skills,
        )
    return plan
