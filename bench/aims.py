"""The closing "Aims (issue #15)" table: every aim of the issue beside this run's figure, the
relay's where the aim is relative to it (or where it shows what the client could drive), and
met / missed by how much. An aim whose phase did not run at the aim's size or rate says
"not measured in this run (why)" rather than lending it a figure measured elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from .burst import refusals as burst_refusals
from .meter import PhaseResult, Results, hellos_per_second, kb_per_socket
from .phases import CPU_AIM_RATE
from .report import ms, rate_str, times

THROUGHPUT_AIM = 5_000.0  # msg/s, each direction
LATENCY_AIM_RATE, LATENCY_AIM_P99_MS = 1_000.0, 15.0
CPU_AIM_RATIO = 3.0  # gateway CPU per message ≤ 3× the relay's, at CPU_AIM_RATE
IDLE_AIM_RATIO = 1.2  # KB per idle socket ≤ 1.2× the relay's
HELLO_AIM = 1_000.0  # hellos/s
BATCH_AIM_SIZE, BATCH_AIM_MS = 1_000, 1_000.0
WEBHOOK_AIM_RATE, WEBHOOK_AIM_P99_MS = 1_000.0, 10.0
BURST_AIM_SIZE = 200
TICK_S = 0.01  # /proc counts CPU in 10 ms ticks


@dataclass(frozen=True)
class Row:
    aim: str
    figure: str
    relay: str = ""
    verdict: str = ""

    @property
    def missed(self) -> bool:
        return self.verdict.startswith("MISSED")


def not_measured(aim: str, why: str) -> Row:
    return Row(aim, f"not measured in this run ({why})")


def at_least(value: float, aim: float, unit: str) -> str:
    return "met" if value >= aim else f"MISSED by {aim - value:,.0f} {unit} ({value / aim:.2f}× the aim)"


def at_most(value: float, aim: float, unit: str) -> str:
    over = ms(value - aim) if unit == "ms" else f"{value - aim:,.1f} {unit}"
    return "met" if value <= aim else f"MISSED by {over} ({value / aim:.1f}× the aim)"


def _bound(p: PhaseResult) -> str:
    return " (CLIENT-BOUND)" if p.client_bound else ""


def throughput(res: Results, key: str, aim: str) -> Row:
    gp, rp = res.runs["gateway"].phases[key], res.runs["relay"].phases[key]
    verdict = at_least(gp.throughput, THROUGHPUT_AIM, "msg/s")
    if gp.lost:
        verdict += f"; {gp.lost:,} lost"
    if res.args.quick:
        verdict += f" (--quick: {gp.tally.expected:,} messages, indicative)"
    return Row(aim, rate_str(gp.throughput) + _bound(gp), rate_str(rp.throughput) + _bound(rp), verdict)


def latency(res: Results) -> Row:
    aim = f"p99 ≤ {LATENCY_AIM_P99_MS:.0f} ms at {LATENCY_AIM_RATE:,.0f} msg/s"
    g, r = res.runs["gateway"], res.runs["relay"]
    gp, rp = g.at_rate(LATENCY_AIM_RATE), r.at_rate(LATENCY_AIM_RATE)
    if gp is None or rp is None:
        rates = ", ".join(f"{p.rate:,.0f}" for p in g.phases.values() if p.rate)
        return not_measured(aim, f"fixed rates {rates} msg/s" + (": --quick" if res.args.quick else ""))
    p99, achieved = gp.tally.percentile_ms(0.99), gp.tally.achieved_rate or 0
    verdict = at_most(p99 or 0, LATENCY_AIM_P99_MS, "ms")
    if gp.lost:  # p99 over what arrived: a loss misses the aim whatever the percentile
        verdict = ("MISSED: " if verdict == "met" else verdict + "; ") + f"{gp.lost:,} not delivered"
    if achieved < 0.95 * LATENCY_AIM_RATE:  # the load asked for was not applied
        verdict = ("MISSED: " if verdict == "met" else verdict + "; ") + f"only {achieved:,.0f} msg/s sent"
    return Row(aim, f"p99 {ms(p99)} (p50 {ms(gp.tally.percentile_ms(0.5))})",
               f"p99 {ms(rp.tally.percentile_ms(0.99))}", verdict)


def cpu_per_message(res: Results) -> Row:
    aim = f"gateway CPU/msg at {CPU_AIM_RATE:,.0f} msg/s ≤ {CPU_AIM_RATIO:g}× relay's"
    gp, rp = res.runs["gateway"].at_rate(CPU_AIM_RATE), res.runs["relay"].at_rate(CPU_AIM_RATE)
    if gp is None or rp is None:
        return not_measured(aim, f"no fixed-rate phase at {CPU_AIM_RATE:,.0f} msg/s")
    g_ms, r_ms = gp.cpu_ms_per_message("gateway"), rp.cpu_ms_per_message("relay")
    if g_ms is None or r_ms is None:
        return Row(aim, "nothing delivered", verdict="MISSED: no message delivered")
    figure = f"{g_ms:.2f} ms (+ redis {gp.cpu_ms_per_message('redis') or 0:.2f} ms)"
    ticks = rp.cpu.seconds["relay"] / TICK_S
    relay = f"{r_ms:.3f} ms" + (f" ({ticks:.0f} ticks: rough)" if ticks < 20 else "")
    if r_ms == 0:
        return Row(aim, figure, "< 1 CPU tick", "no ratio: the relay's CPU was below /proc's resolution")
    ratio = g_ms / r_ms
    verdict = (f"met ({times(ratio)})" if ratio <= CPU_AIM_RATIO
               else f"MISSED: {times(ratio)} the relay's ({ratio / CPU_AIM_RATIO:.1f}× the aim)")
    return Row(aim, figure, relay, verdict)


def lost_and_crosstalk(res: Results) -> Row:
    g, r = res.runs["gateway"], res.runs["relay"]
    lost = sum(p.lost for p in g.phases.values())
    total = sum(p.tally.expected for p in g.phases.values())
    crosstalk = len(g.crosstalk)
    verdict = "met" if not lost and not crosstalk else f"MISSED: {lost:,} lost, {crosstalk} cross-talk"
    return Row("0 lost, 0 cross-talk (message phases)", f"{lost:,} lost of {total:,}, {crosstalk} cross-talk",
               f"{sum(p.lost for p in r.phases.values()):,} lost", verdict)


def idle_socket(res: Results) -> Row:
    aim = f"idle socket ≤ {IDLE_AIM_RATIO:g}× relay's (KB)"
    if res.idle is None or res.relay_idle is None:
        return not_measured(aim, "--idle 0")
    g_kb, r_kb = kb_per_socket(res.idle), kb_per_socket(res.relay_idle)
    figure = f"{g_kb:,.1f} KB ({res.idle['opened']:,} sockets)"
    if r_kb <= 0:
        return Row(aim, figure, f"{r_kb:,.1f} KB", "no ratio: the relay's RSS did not grow")
    ratio = g_kb / r_kb
    verdict = (f"met ({times(ratio)})" if ratio <= IDLE_AIM_RATIO
               else f"MISSED: {times(ratio)} the relay's ({g_kb - IDLE_AIM_RATIO * r_kb:,.1f} KB over)")
    return Row(aim, figure, f"{r_kb:,.1f} KB", verdict)


def hellos(res: Results) -> Row:
    aim = f"≥ {HELLO_AIM:,.0f} hellos/s"
    if res.idle is None:
        return not_measured(aim, "--idle 0")
    rate = hellos_per_second(res.idle)
    verdict = at_least(rate, HELLO_AIM, "hellos/s")
    if res.idle["opened"] < res.idle["wanted"]:
        verdict += f"; only {res.idle['opened']:,} of {res.idle['wanted']:,} opened"
    relay = f"{hellos_per_second(res.relay_idle):,.0f}/s" if res.relay_idle else ""
    return Row(aim, f"{rate:,.0f}/s ({res.idle['opened']:,} sockets)", relay, verdict)


def batch(res: Results) -> Row:
    aim = f"{BATCH_AIM_SIZE:,}-event WhatsApp batch acked < {BATCH_AIM_MS / 1000:g} s"
    b = (res.hooks or {}).get("batch")
    if b is None:
        return not_measured(aim, "--webhook-batch 0")
    if b["size"] != BATCH_AIM_SIZE:
        return not_measured(aim, f"a batch of {b['size']:,} events")
    if b["status"] != 200:
        return Row(aim, f"HTTP {b['status']} in {ms(b['ack_ms'])}", verdict=f"MISSED: answered {b['status']}")
    verdict = "met" if b["ack_ms"] < BATCH_AIM_MS else at_most(b["ack_ms"], BATCH_AIM_MS, "ms")
    return Row(aim, f"{ms(b['ack_ms'])}", verdict=verdict)


def webhook_ack(res: Results) -> Row:
    aim = f"webhook ack p99 ≤ {WEBHOOK_AIM_P99_MS:.0f} ms at {WEBHOOK_AIM_RATE:,.0f}/s"
    s = (res.hooks or {}).get("single")
    if s is None:
        return not_measured(aim, "--webhook-rate 0")
    if s["rate"] != WEBHOOK_AIM_RATE:
        return not_measured(aim, f"single events at {s['rate']:,.0f}/s")
    others = sum(v for k, v in s["statuses"].items() if k != 200)
    verdict = at_most(s["p99_ms"] or 0, WEBHOOK_AIM_P99_MS, "ms")
    if others:
        verdict = ("MISSED: " if verdict == "met" else verdict + "; ") + f"{others:,} not answered 200"
    if s["achieved_rate"] < 0.95 * s["rate"]:
        verdict = ("MISSED: " if verdict == "met" else verdict + "; ") + f"only {s['achieved_rate']:,.0f}/s sent"
    return Row(aim, f"p99 {ms(s['p99_ms'])} ({s['total']:,} POSTs)", verdict=verdict)


def arrivals(res: Results) -> Row:
    aim = f"burst of {BURST_AIM_SIZE} first lines, 0 refused"
    if res.burst is None:
        return not_measured(aim, "--burst 0")
    n = res.burst["n"]
    if n < BURST_AIM_SIZE:
        return not_measured(aim, f"--burst {n}")
    refused = burst_refusals(res.burst)
    figure = f"{refused:,} refused or lost of {n:,} ({res.burst['wall']:.2f} s)"
    return Row(aim, figure, verdict="met" if not refused else f"MISSED by {refused:,}")


def rows(res: Results) -> list[Row]:
    return [throughput(res, "A", f"teen→counsellor ≥ {THROUGHPUT_AIM:,.0f} msg/s"),
            throughput(res, "B", f"counsellor→teen ≥ {THROUGHPUT_AIM:,.0f} msg/s"),
            latency(res), cpu_per_message(res), lost_and_crosstalk(res), idle_socket(res), hellos(res),
            batch(res), webhook_ack(res), arrivals(res)]


def table(res: Results) -> str:
    found = rows(res)
    lines = [f"Aims (issue #15) — loop {res.loop}, {res.args.processes} gateway process"
             f"{'es' if res.args.processes > 1 else ''}, relay in the same run",
             f"{'aim':<46}{'this run':<36}{'relay':<29}verdict"]
    lines += [f"{r.aim:<46}{r.figure:<36}{r.relay:<29}{r.verdict}".rstrip() for r in found]
    missed = sum(r.missed for r in found)
    measured = sum(not r.figure.startswith("not measured") for r in found)
    lines.append(f"{measured} of {len(found)} aims measured in this run; {missed} missed")
    return "\n".join(lines)
