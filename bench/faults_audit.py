"""The fault run's verdict: what the clients saw, checked against what the store holds.

The store is read directly at the end (the "reload"): a line in a history that never reached
the live page that should show it is "seen only after a reload"; an acknowledged line missing
from every history is "lost"; one text at two seqs (in a history or on a screen) is
"duplicated"; a conversation shown as theirs by two consoles is "double-assigned".
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from bench.faults_clients import Counsellor, Record, Teen
from gateway.domain.model import Author, ConversationState
from gateway.store.redis import RedisStore

TEEN_TAG = re.compile(r"^\[t(\d+)\.")


@dataclass
class Stored:
    """Every conversation's history and owner, as Redis holds them after the run."""

    histories: dict[str, list] = field(default_factory=dict)
    owner: dict[str, str | None] = field(default_factory=dict)
    state: dict[str, ConversationState] = field(default_factory=dict)
    opened: dict[str, float] = field(default_factory=dict)


async def read_store(url: str, prefix: str) -> Stored:
    store = RedisStore(url, prefix=prefix)
    await store.start()
    try:
        stored = Stored()
        for conversation in await store.conversations_since(0.0):
            stored.histories[conversation.id] = await store.messages(conversation.id)
            stored.owner[conversation.id] = conversation.counsellor_id
            stored.state[conversation.id] = conversation.state
            stored.opened[conversation.id] = conversation.opened_at
        return stored
    finally:
        await store.close()


def _teen_conversations(stored: Stored) -> dict[int, list[str]]:
    """Teen index -> the conversations holding its lines, oldest first."""
    found: dict[int, set[str]] = {}
    for conversation_id, history in stored.histories.items():
        for message in history:
            match = TEEN_TAG.match(message.text) if message.author is Author.TEEN else None
            if match:
                found.setdefault(int(match.group(1)), set()).add(conversation_id)
    return {teen: sorted(ids, key=lambda c: stored.opened[c]) for teen, ids in found.items()}


def _duplicated(stored: Stored, record: Record, teens: list[Teen], consoles: list[Counsellor]) -> set[str]:
    ours = record.teen_sent.keys() | record.reply_sent.keys()
    in_store = Counter(m.text for history in stored.histories.values() for m in history if m.text in ours)
    twice = {text for text, count in in_store.items() if count > 1}
    screens = [t.screen for t in teens] + [s for c in consoles for s in c.screens.values()]
    for screen in screens:
        shown = Counter(text for _, text in screen.values() if text in ours)
        twice |= {text for text, count in shown.items() if count > 1}
    return twice


def _missed_by_teens(stored: Stored, teens: list[Teen], by_teen: dict[int, list[str]]) -> int:
    """Counsellor and system lines of a teen's (latest) conversation its widget never got."""
    missed = 0
    for teen in teens:
        conversations = by_teen.get(teen.index)
        if not conversations:
            continue
        for message in stored.histories[conversations[-1]]:
            shown = teen.screen.get(message.seq) == (message.author.value, message.text)
            if message.author in (Author.COUNSELLOR, Author.SYSTEM) and not shown:
                missed += 1
    return missed


def _missed_by_consoles(stored: Stored, consoles: list[Counsellor]) -> tuple[int, int]:
    """(teen lines the owning console never showed, assigned conversations it never showed)."""
    by_id = {c.me_id: c for c in consoles}
    missed = unannounced = 0
    for conversation_id, owner in stored.owner.items():
        console = by_id.get(owner)
        if console is None or stored.state[conversation_id] is not ConversationState.ASSIGNED:
            continue
        teen_lines = [m for m in stored.histories[conversation_id] if m.author is Author.TEEN]
        if conversation_id not in console.held:
            unannounced += 1
            missed += len(teen_lines)
            continue
        screen = console.screens.get(conversation_id, {})
        missed += sum(screen.get(m.seq) != ("teen", m.text) for m in teen_lines)
    return missed, unannounced


def percentile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verdict(stored: Stored, record: Record, teens: list[Teen], consoles: list[Counsellor]) -> dict:
    """The figures of the table, as one JSON-able dict."""
    in_store = {m.text for history in stored.histories.values() for m in history}
    by_teen = _teen_conversations(stored)
    holders = Counter(cid for c in consoles for cid in c.held)
    console_missed, unannounced = _missed_by_consoles(stored, consoles)
    duplicated = _duplicated(stored, record, teens, consoles)
    teen_missed = _missed_by_teens(stored, teens, by_teen)
    stale = sum(1 for c in consoles for cid in c.held if stored.owner.get(cid) != c.me_id)
    return {
        "sent": {"teen": len(record.teen_sent), "reply": len(record.reply_sent)},
        "acked": {"teen": len(record.teen_acked), "reply": len(record.reply_acked)},
        "lost": {"teen": sum(t not in in_store for t in record.teen_acked),
                 "reply": sum(t not in in_store for t in record.reply_acked)},
        "duplicated": len(duplicated),
        "duplicated_examples": sorted(duplicated)[:5],  # the run's own texts, e.g. "[t12.3] …"
        "seen_only_after_reload": {"teen": teen_missed, "console": console_missed},
        "double_assigned": sum(1 for count in holders.values() if count > 1),
        "unannounced_assignments": unannounced,
        "stale_holds": stale,
        "teens_split_over_conversations": sum(1 for ids in by_teen.values() if len(ids) > 1),
        "unacked": {"teen": len(record.teen_sent) - len(record.teen_acked),
                    "reply": len(record.reply_sent) - len(record.reply_acked)},
        "reconnects": {"count": len(record.reconnect_seconds),
                       "p50_ms": percentile_ms(record.reconnect_seconds, 0.5),
                       "max_ms": percentile_ms(record.reconnect_seconds, 1.0),
                       "mean_ms": 1000 * statistics.fmean(record.reconnect_seconds)
                       if record.reconnect_seconds else None},
        "http_500": record.http_500,
        "connect_failures": record.connect_failures,
        "ack_timeouts": record.ack_timeouts,
        "transient_errors": dict(record.transient_errors),
        "refused": dict(record.refused),
        "set_offline_while_connected": record.set_offline_while_connected,
        "moved_while_away": record.moved_while_away,
        "gaps_filled_on_reopen": record.gaps_filled_on_reopen,
        "unreadable_frames": dict(record.unreadable_frames),
        "conversations": len(stored.histories),
    }


def total(figure) -> int:
    """A figure that may be split by side, summed."""
    return sum(figure.values()) if isinstance(figure, dict) else int(figure)


# The four that `--strict` (and the "done when") want at 0.
MUST_BE_ZERO = ("lost", "duplicated", "seen_only_after_reload", "double_assigned")


def not_zero(result: dict) -> list[str]:
    """The figures of MUST_BE_ZERO that are not 0 (`--strict` exits 1 if any)."""
    return [name for name in MUST_BE_ZERO if total(result[name])]


def table(result: dict) -> str:
    """The printed table: one row per figure, split teen→counsellor / counsellor→teen."""

    def row(label: str, value) -> str:
        if isinstance(value, dict):
            cells = f"{value.get('teen', 0):>8} {value.get('reply', value.get('console', 0)):>8} {total(value):>8}"
        else:
            cells = f"{'':>8} {'':>8} {value:>8}"
        return f"  {label:<44}{cells}"

    r = result
    rec = r["reconnects"]
    fmt = (lambda v: "n/a" if v is None else f"{v:,.0f} ms")
    lines = [
        f"  {'':<44}{'teen':>8} {'counsel.':>8} {'total':>8}",
        row("sent", r["sent"]),
        row("acked", r["acked"]),
        row("lost (acked, never stored)", r["lost"]),
        row("duplicated (a line twice)", r["duplicated"]),
        row("seen only after a reload (teen/console)", r["seen_only_after_reload"]),
        row("double-assigned conversations", r["double_assigned"]),
        row("assigned, never shown to the owner", r["unannounced_assignments"]),
        row("never acked (given up at the deadline)", r["unacked"]),
        f"  {'reconnects':<44}{rec['count']:>8}   p50 {fmt(rec['p50_ms'])}, max {fmt(rec['max_ms'])}",
        row("HTTP 500 (clients and probes)", r["http_500"]),
        (f"  {'SIGTERM: close codes seen':<44}{r['sigterm']['close_codes'] or '{}'}"
         f"  exit {r['sigterm']['exit']} in {r['sigterm']['seconds']} s"),
        f"  {'other closes (not kill -9, SIGTERM, cut)':<44}{r['other_closes'] or '{}'}",
        f"  {'/healthz while Redis was down':<44}{r['healthz_while_redis_down'] or '{}'}",
        row("counsellors set offline while connected", r["set_offline_while_connected"]),
        row("held conversations gone after reconnect", r["moved_while_away"]),
        row("gaps filled by a console's re-open", r["gaps_filled_on_reopen"]),
    ]
    if r["unreadable_frames"]:
        lines.append(f"  {'frames a client could not read':<44}{r['unreadable_frames']}")
    return "\n".join(lines)
