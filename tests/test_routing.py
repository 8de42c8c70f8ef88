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


# --- a conversation handed over does not come back to whoever handed it over ------------------------


def handed(cid: str, by: str, queued_at: float = 100.0, skill: str | None = None) -> QueueEntry:
    return QueueEntry(cid, 0, queued_at, skill, handed_over_by=by)


def test_a_handed_over_conversation_goes_to_someone_else_even_the_busier_one():
    team = [load("ana", 0, last=0), load("ben", 2, last=500)]
    assert plan_assignments([handed("x", by="ana")], team, now=100.0) == [Assignment("x", "ben")]


def test_past_the_skill_wait_it_goes_to_anyone_else_not_back():
    # Ana handed it to "juriste"; the lawyer is full. Past the wait it goes to Cleo, not back to Ana.
    team = [skilled("ana", capacity=3), skilled("lawyer", "juriste", open_conversations=1, capacity=1),
            skilled("cleo", open_conversations=2, capacity=3)]
    queue = [handed("x", by="ana", skill="juriste")]
    assert plan_assignments(queue, team, now=130.0, skill_wait=60) == []  # waits for the lawyer
    assert plan_assignments(queue, team, now=161.0, skill_wait=60) == [Assignment("x", "cleo")]


def test_the_one_who_handed_it_over_is_not_the_specialist_awaited():
    # Ana has the skill but handed it over: nobody else with it is on duty, so anyone else at once.
    team = [skilled("ana", "psychologue"), skilled("ben")]
    queue = [handed("x", by="ana", skill="psychologue")]
    assert plan_assignments(queue, team, now=100.0, skill_wait=60) == [Assignment("x", "ben")]


def test_it_goes_back_to_them_only_when_nobody_else_has_room():
    team = [load("ana", 0), load("ben", 1, capacity=1), load("cleo", presence=P)]
    assert plan_assignments([handed("x", by="ana")], team, now=100.0) == [Assignment("x", "ana")]


def test_the_second_one_handed_over_by_the_same_counsellor_goes_on_to_the_next():
    team = [load("ana", 0), load("ben", 0, capacity=1), load("cleo", 0, capacity=1)]
    queue = [handed("x", by="ana", queued_at=1.0), handed("y", by="ana", queued_at=2.0), entry("z", 3.0)]
    assert plan_assignments(queue, team, now=100.0) == [Assignment("x", "ben"), Assignment("y", "cleo"),
                                                        Assignment("z", "ana")]
