"""What the bench prints: each phase as it ends, the gateway's log problems, the summary table
and the client-bound notes. The aims table is bench/aims.py."""

from __future__ import annotations

import os
import re
import resource
from collections import Counter
from pathlib import Path

from . import webhooks
from .burst import refusals as burst_refusals
from .load import perf
from .meter import PhaseResult, Results, hellos_per_second, kb_per_socket


def mb(kb: int | None) -> str:
    return "?" if not kb else f"{kb / 1024:,.0f} MB"


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def rate_str(value: float) -> str:
    return f"{value:,.0f} msg/s"


def times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def say(text: str = "") -> None:
    print(text, flush=True)


def report_phase(target: str, server: str, p: PhaseResult) -> None:
    t = p.tally
    lost = f"lost {p.lost:,}" + (f", duplicates {t.duplicates:,}" if t.duplicates else "")
    window = (t.last_recv - t.first_send) if t.last_recv and t.first_send else 0.0
    say(f"  [{target}] {p.name}: sent {t.sent:,}, delivered {t.received:,} ({lost}) in {window:.2f} s"
        f" → {rate_str(p.throughput)}")
    extra = p.extra.get("line")
    if extra:
        say(f"      {extra}")
    if "acks" in p.extra:
        say(f"      acks {p.extra['acks']:,} of {t.sent:,}" + (f"; error frames {dict(p.extra['errors'])}"
                                                               if p.extra.get("errors") else ""))
        if p.extra.get("delivered_unacked"):
            say(f"      ! {p.extra['delivered_unacked']:,} messages reached the counsellor although the teen got an"
                f" error frame instead of an ack (a retry would show them twice)")
    say(f"      latency p50 {ms(t.percentile_ms(0.50))}  p90 {ms(t.percentile_ms(0.90))}"
        f"  p99 {ms(t.percentile_ms(0.99))}  max {ms(t.percentile_ms(1.0))}")
    per = p.cpu_ms_per_message(server)
    say(f"      CPU (% of one core): {p.cpu.text()}"
        + (f"; {server} {per:.2f} ms per message delivered" if per is not None else ""))
    say(f"      {server} RSS {mb(p.server_mem.get('VmRSS'))} (peak {mb(p.server_mem.get('VmHWM'))})")
    verdict = p.cpu.verdict(server)
    if verdict:
        say(f"      note: {verdict}")


def report_idle(idle: dict) -> None:
    server = idle["server"]
    say(f"  opened {idle['opened']:,}/{idle['wanted']:,} in {idle['open_wall']:.1f} s"
        f" ({hellos_per_second(idle):,.0f}/s), {idle['still_open']:,} still open"
        f" after 2 s" + (f"; failures: {dict(idle['errors'])}" if idle["errors"] else ""))
    say(f"  CPU while opening (% of one core): {idle['cpu'].text()}")
    say(f"  {server} RSS {mb(idle['before'].get('VmRSS'))} before → {mb(idle['with_open'].get('VmRSS'))}"
        f" with them open ({kb_per_socket(idle):,.1f} KB per socket), peak {mb(idle['with_open'].get('VmHWM'))};"
        f" {mb(idle['after_close'].get('VmRSS'))} 3 s after they closed")
    say(f"  (client process RSS with them open: {mb(idle['client_rss'].get('VmRSS'))})")


def log_problems(path: Path) -> tuple[Counter[str], Counter[str], list[str]]:
    """Warning/error lines and tracebacks of a gateway log, grouped by message and by final exception."""
    problems: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    tracebacks: list[str] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return problems, exceptions, tracebacks
    i = 0
    while i < len(lines):
        line = lines[i]
        match = re.search(r"\b(WARNING|ERROR|CRITICAL)\b (.*)", line)
        if match:
            text = re.sub(r"\b[0-9a-f]{32}\b", "<id>", match.group(2))
            problems[f"{match.group(1)} {text[:160]}"] += 1
        elif line.startswith("Traceback"):
            block = [line]
            i += 1
            while i < len(lines) and not re.match(r"\d{4}-\d\d-\d\d ", lines[i]):
                block.append(lines[i])
                i += 1
            final = next((b for b in reversed(block) if b.strip() and not b.startswith(" ")), block[-1])
            exceptions[final[:200]] += 1
            if len(tracebacks) < 1:
                tracebacks.append("\n".join(block[-30:]))
            continue
        i += 1
    return problems, exceptions, tracebacks


def report_logs(logs: list[Path]) -> None:
    """The warnings and tracebacks of every gateway process's log, summed."""
    problems, exceptions, tracebacks = Counter(), Counter(), []
    for log in logs:
        more = log_problems(log)
        problems, exceptions, tracebacks = problems + more[0], exceptions + more[1], tracebacks + more[2]
    say("\n[gateway log] " + ("no warnings or errors" if not problems and not exceptions else
                              f"{sum(problems.values()):,} warning/error lines, "
                              f"{sum(exceptions.values()):,} tracebacks"))
    for text, count in problems.most_common(8):
        say(f"  {count:>6} × {text}")
    if exceptions:
        say("  tracebacks by final exception:")
        for text, count in exceptions.most_common(6):
            say(f"  {count:>6} × {text}")
        say("  the first one (last 30 lines):")
        say("    " + tracebacks[0].replace("\n", "\n    "))


def lost_counts(res: Results) -> dict[str, int]:
    g, r = res.runs["gateway"], res.runs["relay"]
    return {"lost": sum(p.lost for p in g.phases.values()), "total": sum(p.tally.expected for p in g.phases.values()),
            "duplicates": sum(p.tally.duplicates for p in g.phases.values()),
            "relay_lost": sum(p.lost for p in r.phases.values()), "crosstalk": len(g.crosstalk)}


class Table:
    """Rows of label, value, note in aligned columns."""

    def __init__(self, title: str, widths: tuple[int, ...] = (31, 28)):
        self.lines = [title]
        self.widths = widths

    def row(self, *cells: str) -> None:
        text = "".join(f"{cell:<{width}}" for cell, width in zip(cells, self.widths))
        self.lines.append((text + "".join(cells[len(self.widths):])).rstrip())

    def text(self) -> str:
        return "\n".join(self.lines)


def summary(res: Results) -> str:
    """The figures of the run, the gateway beside the relay (the aims: bench/aims.py)."""
    args, g, r = res.args, res.runs["gateway"], res.runs["relay"]
    table = Table(f"3018 Gateway benchmark — {args.processes} gateway process{'es' if args.processes > 1 else ''}, "
                  f"Redis store, loop {res.loop}, {os.cpu_count()} cores ({args.teens} teens, {args.counsellors}"
                  f" counsellors, {args.messages} msgs each" + (", --quick" if args.quick else "") + ")")
    for key, label in (("A", "teen→counsellor throughput"), ("B", "counsellor→teen throughput")):
        gp, rp = g.phases[key], r.phases[key]
        table.row(label, rate_str(gp.throughput),
                  f"(relay {rate_str(rp.throughput)} → {times(gp.throughput / rp.throughput if rp.throughput else 0)})")
    _latency_rows(table, res)
    _message_rows(table, res)
    for label, value, note in webhooks.report(res.hooks) if res.hooks is not None else ():
        table.row(label, value, note)
    if res.burst is not None:
        b = res.burst
        table.row(f"burst of {b['n']} first lines", f"{burst_refusals(b):,} refused or lost",
                  f"(aim 0; all answered in {b['wall']:.2f} s; console {b['pings']['error frames']} error frames)")
    table.row("gateway peak RSS", mb(res.mem_after_messages.get("VmHWM")),
              f"(reached at the argon2 logins: {mb(g.connect['mem_connected'].get('VmHWM'))}; RSS after the"
              f" message phases {mb(res.mem_after_messages.get('VmRSS'))}; relay peak {mb(res.relay_mem.get('VmHWM'))})")
    if res.idle is not None:
        relay = (f"; relay {kb_per_socket(res.relay_idle):,.1f} KB per socket" if res.relay_idle else "")
        table.row(f"{res.idle['opened']:,} idle widget sockets", f"RSS {mb(res.idle['with_open'].get('VmRSS'))}",
                  f"(+{kb_per_socket(res.idle):,.1f} KB per socket{relay}; peak {mb(res.final_mem.get('VmHWM'))})")
    for key, label in (("A", "CPU, teen→counsellor burst"), ("B", "CPU, counsellor→teen burst")):
        cpu, rcpu = g.phases[key].cpu.share, r.phases[key].cpu.share
        table.row(label, f"gateway {cpu.get('gateway', 0):.0%} redis {cpu.get('redis', 0):.0%}",
                  f"client {cpu.get('client', 0):.0%} of one core (relay run: relay {rcpu.get('relay', 0):.0%},"
                  f" client {rcpu.get('client', 0):.0%})")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    table.row("client process", f"CPU {usage.ru_utime + usage.ru_stime:,.1f} s",
              f"peak RSS {usage.ru_maxrss / 1024:,.0f} MB, wall {perf() - res.started:,.0f} s")
    return table.text()


def _latency_rows(table: Table, res: Results) -> None:
    g, r = res.runs["gateway"], res.runs["relay"]
    for key in ("R", "S", "C"):
        gp, rp = g.phases.get(key), r.phases.get(key)
        if gp is None or rp is None:
            continue
        g50, g99 = gp.tally.percentile_ms(0.5), gp.tally.percentile_ms(0.99)
        r50, r99 = rp.tally.percentile_ms(0.5), rp.tally.percentile_ms(0.99)
        ratio = (f" → {times(g50 / r50)} / {times(g99 / r99)}" if g50 and g99 and r50 and r99 else "")
        table.row(f"latency at {gp.rate:,.0f} msg/s", f"p50 {ms(g50)}  p99 {ms(g99)}",
                  f"(relay p50 {ms(r50)} p99 {ms(r99)}{ratio})")
        short = (gp.tally.achieved_rate or gp.rate) < 0.95 * gp.rate
        if gp.lost or short:
            table.row("", f"({gp.tally.received:,} of {gp.tally.expected:,} delivered"
                      + (f"; only {gp.tally.achieved_rate:,.0f} msg/s could be sent" if short else "") + ")")


def _message_rows(table: Table, res: Results) -> None:
    g = res.runs["gateway"]
    n = lost_counts(res)
    refused = sum(sum(p.extra.get("errors", Counter()).values()) for p in g.phases.values())
    first_retries = sum(g.connect.get("first_retries", Counter()).values())
    table.row("messages lost", f"{n['lost']:,}" + (f" (+{n['duplicates']:,} duplicates)" if n["duplicates"] else ""),
              f"(of {n['total']:,}; relay {n['relay_lost']:,}; cross-talk {n['crosstalk']})")
    if refused or first_retries:
        unacked = sum(p.extra.get("delivered_unacked", 0) for p in g.phases.values())
        table.row("error frames 'unavailable'", f"{refused:,}",
                  "(messages refused: see the gateway log above"
                  + (f"; {unacked:,} of them reached the counsellor all the same" if unacked else "")
                  + (f"; + {first_retries} first messages retried" if first_retries else "") + ")")


def client_bound_notes(res: Results) -> list[str]:
    notes = []
    for name, run_ in res.runs.items():
        for p in run_.phases.values():
            if p.client_bound:
                notes.append(f"{name} {p.name}: the client used {p.cpu.share['client']:.0%} of a core"
                             + (f" (over only {p.cpu.wall * 1000:.0f} ms)" if p.cpu.wall < 1 else ""))
    if not notes:
        return []
    return (["note: client-bound phases (the server could go faster than measured there; ratios to them"
             " flatter the gateway):"] + [f"  - {n}" for n in notes])
