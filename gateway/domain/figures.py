"""The supervisor's live figures and the teen's estimated wait: pure logic, no I/O.

Owns three rules: the day's queue figures (`day_figures`), the estimated wait shown to a
waiting teen (`estimate_wait`, `meaningful_change`), and when to tell a Messenger/WhatsApp
teen their new place in the queue (`position_update_due`). Nothing here reads a clock:
`now` is always passed in. Inputs are anonymous aggregates: no ids, no text.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.domain.model import Channel

# Outcomes of a `ConversationRecord` (None while the conversation is open).
ANSWERED = "answered"
ABANDONED = "abandoned"
CLOSED_WHILE_QUEUED = "closed_while_queued"  # the line closed before anyone was free
OUT_OF_HOURS = "out_of_hours"

# French helplines do not count a teen who leaves the queue within 5 s as an abandon
# (a misclick, a reload): those are counted apart, as short abandons.
SHORT_ABANDON_SECONDS = 5.0
ANSWER_TARGET_SECONDS = 60.0


@dataclass(frozen=True)
class ConversationRecord:
    """One conversation's timings, anonymous. Times are epoch seconds."""

    channel: str  # "web", "messenger", "whatsapp"
    queued_at: float
    assigned_at: float | None  # first assignment
    first_answer_at: float | None  # first counsellor message
    closed_at: float | None
    outcome: str | None  # ANSWERED, ABANDONED, CLOSED_WHILE_QUEUED, OUT_OF_HOURS; None while open
    priority: int = 0


# --- the day's figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFigures:
    """The queue since `since`. Waits are in seconds; None means "no data yet"."""

    conversations: int
    per_channel: dict[str, int] = field(hash=False)
    wait_p50: float | None
    wait_p90: float | None
    answered_within_1_min: float | None  # a share in [0, 1]
    abandons: int
    short_abandons: int
    waiting_now: int
    raised: int
    out_of_hours: int

    def view(self) -> dict:
        """The JSON shape the supervisor's console reads."""
        return {
            "conversations": self.conversations,
            "per_channel": dict(self.per_channel),
            "wait_p50": self.wait_p50,
            "wait_p90": self.wait_p90,
            "answered_within_1_min": self.answered_within_1_min,
            "abandons": self.abandons,
            "short_abandons": self.short_abandons,
            "waiting_now": self.waiting_now,
            "raised": self.raised,
            "out_of_hours": self.out_of_hours,
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it.

    Always one of the values (no interpolation), so "p90 = 120 s" means a real teen waited
    120 s. Sorted values v1..vn: rank = ceil(p/100 × n), answer v_rank. None when empty.
    """
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    ordered = sorted(values)
    rank = math.ceil(p * len(ordered) / 100)  # p × n first: 7 / 100 × 100 is 7.000…1 in floats
    return ordered[rank - 1]


def _left_while_queued(r: ConversationRecord) -> bool:
    return r.assigned_at is None and r.closed_at is not None


def _is_short_abandon(r: ConversationRecord) -> bool:
    return (
        r.outcome == ABANDONED
        and _left_while_queued(r)
        and r.closed_at - r.queued_at < SHORT_ABANDON_SECONDS
    )


def day_figures(records: Iterable[ConversationRecord], since: float, now: float) -> DayFigures:
    """The figures of the conversations that entered between `since` and `now` (both included).

    Out-of-hours contacts never entered the queue: they are only counted in `out_of_hours`,
    and every other figure ignores them. Over the queue conversations:

    - `conversations`, `per_channel`: how many entered the queue, in all and per channel
      (the three known channels always present, at 0 when none).
    - `wait_p50`, `wait_p90`: nearest-rank percentiles (see `percentile`) of the waits of the
      assigned ones, `assigned_at - queued_at`; still-waiting and departed teens are not in it.
    - `answered_within_1_min`: assigned within 60 s / (assigned + left the queue unassigned).
      "Left" covers abandons and closing of the line; short abandons are left out of both
      sides, as they are not counted as abandons; still-waiting teens are not counted yet.
    - `abandons`: left the queue unassigned (outcome "abandoned") after 5 s or more;
      `short_abandons`: the same under 5 s.
    - `waiting_now`: neither assigned nor closed. Shortcut: a teen queued before `since`
      and still waiting is not counted; the caller chooses `since` (start of the opening).
    - `raised`: priority above 0.
    """
    in_day = [r for r in records if since <= r.queued_at <= now]
    queued = [r for r in in_day if r.outcome != OUT_OF_HOURS]
    per_channel = {c.value: 0 for c in Channel}
    for r in queued:
        per_channel[r.channel] = per_channel.get(r.channel, 0) + 1
    # max(0, ...): timestamps from different processes may disagree by a few milliseconds.
    waits = [max(0.0, r.assigned_at - r.queued_at) for r in queued if r.assigned_at is not None]
    short = sum(1 for r in queued if _is_short_abandon(r))
    abandons = sum(1 for r in queued if r.outcome == ABANDONED and _left_while_queued(r)) - short
    left = sum(1 for r in queued if _left_while_queued(r)) - short
    settled = len(waits) + left
    fast = sum(1 for w in waits if w <= ANSWER_TARGET_SECONDS)
    return DayFigures(
        conversations=len(queued),
        per_channel=per_channel,
        wait_p50=percentile(waits, 50),
        wait_p90=percentile(waits, 90),
        answered_within_1_min=fast / settled if settled else None,
        abandons=abandons,
        short_abandons=short,
        waiting_now=sum(1 for r in queued if r.assigned_at is None and r.closed_at is None),
        raised=sum(1 for r in queued if r.priority > 0),
        out_of_hours=len(in_day) - len(queued),
    )


# --- the teen's estimated wait --------------------------------------------------------------------

NOBODY_AVAILABLE_FR = (
    "Aucun·e écoutant·e n'est disponible pour l'instant : tu gardes ta place, "
    "on te répond dès que quelqu'un revient."
)
_LONGEST_SHOWN_MINUTES = 180  # past 3 hours a figure means nothing: say "plus de 3 heures"
# The prior of the handling time (assignment to close) until there are `min_samples` recent
# conversations: 20 minutes, the order of a helpline chat for teens (most last 10 to 30 min).
# A built-in constant, not a setting: an estimate given as "environ", refined by real samples.
TYPICAL_HANDLING_SECONDS = 20 * 60


@dataclass(frozen=True)
class WaitEstimate:
    """An estimated wait. `seconds` is None only when nobody is available to answer at all."""

    seconds: float | None
    enough_data: bool  # False: the handling time still leans on the built-in prior
    samples: int
    nobody_available: bool = False  # no available counsellor at all (all paused or offline)
    all_busy: bool = False  # counsellors are available, and known to have no free slot now

    def text_fr(self) -> str:
        """What the teen reads (ConvView.wait): a figure rounded so that it does not sound more
        precise than it is ("environ 5 minutes"), or a whole sentence when there is none."""
        if self.nobody_available or self.seconds is None:
            return NOBODY_AVAILABLE_FR
        return _wait_text_fr(self.seconds)


def _round_half_up(value: float, step: int) -> int:
    return int(math.floor(value / step + 0.5)) * step


def _wait_text_fr(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 2:
        return "moins de 2 minutes"
    # Coarser steps as the wait grows: "environ 7 minutes" but "environ 25 minutes".
    step = 1 if minutes < 10 else 5 if minutes < 30 else 10 if minutes < 60 else 15
    rounded = _round_half_up(minutes, step)
    if rounded > _LONGEST_SHOWN_MINUTES:
        return "plus de 3 heures"
    if rounded < 60:
        return f"environ {rounded} minutes"
    hours, rest = divmod(rounded, 60)
    hours_text = f"{hours} heure" + ("s" if hours > 1 else "")
    return f"environ {hours_text}" + (f" {rest}" if rest else "")


def estimate_wait(
    position: int,
    recent_handling_seconds: Sequence[float],
    active_capacity: int,
    min_samples: int = 5,
    free_slots: int | None = None,
) -> WaitEstimate:
    """Estimated wait of the teen at `position` (1 = next) in the queue.

    Model: the teen is served when `position` slots have freed up (fewer by the `free_slots`
    known to be free now; None: unknown, taken as none). With C slots (the summed capacities
    of available counsellors) and a handling time H (assignment to close), a slot frees every
    H / C seconds on average, so wait ≈ slots to free × H / C. A rough steady-state figure: it
    ignores raised conversations that will pass ahead and counsellors pausing.

    H is the median of the recent handling times, not the mean: handling times are skewed,
    and one two-hour crisis conversation among a few samples would double a mean and tell
    every teen to expect an hour. Until there are `min_samples`, the missing ones are the
    built-in prior (TYPICAL_HANDLING_SECONDS), so the first teens of the day get a figure
    too; honest because it is said as "environ" and rounded coarsely, and it moves to the
    real median as soon as real samples outnumber the prior. With nobody available there is
    no figure at all: no slot will free, whatever the history.
    """
    if position < 1:
        raise ValueError(f"queue positions start at 1, got {position}")
    samples = len(recent_handling_seconds)
    enough = samples >= min_samples
    if active_capacity <= 0:
        return WaitEstimate(None, enough, samples, nobody_available=True)
    handling = statistics.median([max(0.0, s) for s in recent_handling_seconds]
                                 + [TYPICAL_HANDLING_SECONDS] * (min_samples - samples))
    to_free = position if free_slots is None else max(0, position - free_slots)
    return WaitEstimate(to_free * handling / active_capacity, enough, samples, all_busy=free_slots == 0)


def meaningful_change(old: WaitEstimate | None, new: WaitEstimate) -> bool:
    """Worth a new message to the teen: the first estimate, or one that reads differently.

    Comparing the rounded texts, not the seconds, means a drift from 6 min 10 s to
    5 min 50 s (both "environ 6 minutes") sends nothing.
    """
    return old is None or old.text_fr() != new.text_fr()


# --- pacing of position updates on Meta channels --------------------------------------------------


def position_update_due(
    last_told_position: int | None,
    last_told_at: float | None,
    position: int,
    now: float,
    min_interval: float,
) -> bool:
    """Whether to tell a Messenger/WhatsApp teen their place in the queue now.

    Each update is a phone notification, and WhatsApp refuses more than about one message
    every 6 s to the same user (Cloud API pair rate limit, error 131056); we want far fewer.
    So: always the first time; never within `min_interval` seconds of the last one; and
    otherwise only on a change that matters to the teen: reaching position 1 ("tu es le/la
    prochain·e"), or a drop of at least max(2, 25 % of the last told position), so 2 places
    from 5th, 3 from 12th, 10 from 40th. Comparing with the last *told* position, small
    steps add up until they matter. Moving back (a raised conversation passing ahead) is
    not announced.
    """
    if last_told_position is None or last_told_at is None:
        return True
    if now - last_told_at < min_interval:
        return False
    if position == 1:
        return last_told_position != 1
    dropped = last_told_position - position
    return dropped >= max(2, 0.25 * last_told_position)
