"""The arrivals burst: N teens open the widget and write their first line at the same instant.

What the issue (#15, item 3) asks to see at 0: a hello refused or dropped, a first line
refused (`unavailable`), a console socket closed or refusing frames while it happens. Each
teen opens its socket, says hello and sends its first line with no pause and no bound on
how many do so at once; meanwhile one logged-in console pings (a per-frame session check
each time) as fast as it is answered.
"""

from __future__ import annotations

import asyncio
from collections import Counter


from .load import GatewayTarget, TeenClient, new_session, perf

FIRST_LINE_WAIT = 60.0  # seconds a teen waits for the ack of its first line


async def burst_phase(target: GatewayTarget, username: str, n: int) -> dict:
    hub = target.hub
    session = new_session()
    outcome: Counter[str] = Counter()
    console = await target.console(90_000, username)
    pings = Counter()
    stop = asyncio.Event()

    async def keep_pinging() -> None:
        """A console in use during the burst: each frame goes through the session check."""
        errors_before = console.errors
        while not stop.is_set() and not console.ws.closed:
            await console.ws.send_str('{"type":"ping","id":"burst"}')
            pings["sent"] += 1
            await asyncio.sleep(0.05)
        pings["error frames"] = console.errors - errors_before
        pings["socket closed"] = int(console.ws.closed)

    async def one(i: int) -> None:
        try:
            teen: TeenClient = await asyncio.wait_for(target.teen(200_000 + i, 0, session=session,
                                                                  kind="burst-widget"), 30)
        except Exception as exc:  # noqa: BLE001 - counted: the figure this phase exists for
            text = str(exc)
            outcome["hello refused: unavailable" if "unavailable" in text else
                     f"hello failed: {type(exc).__name__} {text[:60]}"] += 1
            return
        acks, errors = teen.acks, teen.errors
        await teen.send_message(f"bonjour, premier message {i}", f"burst{i}")
        try:
            async with asyncio.timeout(FIRST_LINE_WAIT):
                while teen.acks == acks and teen.errors == errors:
                    teen.changed.clear()
                    await teen.changed.wait()
        except TimeoutError:
            outcome["first line: no answer"] += 1
        else:
            outcome["first line stored (ack)" if teen.acks > acks else "first line refused (error frame)"] += 1
        if teen.ws.closed:
            outcome[f"socket closed (code {teen.ws.close_code})"] += 1
        return teen

    pinger = asyncio.create_task(keep_pinging())
    start = perf()
    teens = await asyncio.gather(*(one(i) for i in range(n)))
    wall = perf() - start
    stop.set()
    await pinger
    hub.shutting_down = True
    for t in [*(t for t in teens if t is not None), console]:
        if t.task:
            t.task.cancel()
    await session.close()
    await console.ws.close()
    hub.shutting_down = False
    return {"n": n, "wall": wall, "outcome": outcome, "pings": pings}


def refusals(result: dict) -> int:
    """Hellos and first lines that did not get through, plus the console's trouble."""
    o, p = result["outcome"], result["pings"]
    return (result["n"] - o["first line stored (ack)"]) + p["error frames"] + p["socket closed"]


def report(result: dict) -> list[str]:
    o = result["outcome"]
    lines = [f"  {result['n']} teens at once: {o['first line stored (ack)']} first lines stored in "
             f"{result['wall']:.2f} s; refused or lost: {refusals(result)} (aim 0)"]
    for key, count in sorted(o.items()):
        if key != "first line stored (ack)":
            lines.append(f"      {count:>5} × {key}")
    p = result["pings"]
    lines.append(f"  console during the burst: {p['sent']} pings, {p['error frames']} error frames, "
                 f"{'closed' if p['socket closed'] else 'still open'}")
    return lines


