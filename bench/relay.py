"""The floor: a bare aiohttp WebSocket relay, no store and no logic.

`python -m bench.relay --host 127.0.0.1 --port P`

- `GET /ws/console?c=J` — a "counsellor" socket (answers `{"type":"init"}` once).
- `GET /ws/teen?pair=I&c=J` — a "teen" socket paired with console J. Its first frame (the
  hello) is answered `{"type":"welcome"}`; every later text frame is forwarded verbatim to
  console J.
- A console's text frame is forwarded verbatim to the teen named by its `conversation_id`
  (one orjson parse: the only routing the relay does).

Like the gateway, one console socket carries several teens, sockets have a 16 KiB frame
limit, no compression and a 30 s heartbeat; unlike it, nothing is stored, checked or queued.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import WSMsgType, web

MAX_FRAME_BYTES = 16 * 1024
TEENS = web.AppKey("teens", dict)
CONSOLES = web.AppKey("consoles", dict)


async def teen_socket(request: web.Request) -> web.WebSocketResponse:
    pair, console_id = request.query.get("pair", ""), request.query.get("c", "")
    teens, consoles = request.app[TEENS], request.app[CONSOLES]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    teens[pair] = ws
    try:
        first = True
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            if first:
                first = False
                await ws.send_str('{"type":"welcome"}')
                continue
            console = consoles.get(console_id)
            if console is not None and not console.closed:
                await console.send_str(msg.data)
    finally:
        if teens.get(pair) is ws:
            del teens[pair]
    return ws


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    console_id = request.query.get("c", "")
    teens, consoles = request.app[TEENS], request.app[CONSOLES]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    consoles[console_id] = ws
    try:
        await ws.send_str('{"type":"init"}')
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            try:
                target = orjson.loads(msg.data).get("conversation_id")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            teen = teens.get(target)
            if teen is not None and not teen.closed:
                await teen.send_str(msg.data)
    finally:
        if consoles.get(console_id) is ws:
            del consoles[console_id]
    return ws


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "teens": len(request.app[TEENS]),
                              "consoles": len(request.app[CONSOLES])})


def build_app() -> web.Application:
    app = web.Application()
    app[TEENS] = {}
    app[CONSOLES] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ws/teen", teen_socket)
    app.router.add_get("/ws/console", console_socket)
    return app


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="asyncio",
                   help="the gateway's choice (`serve --loop`), so the floor runs on the same loop")
    args = p.parse_args()
    web.run_app(build_app(), host=args.host, port=args.port, access_log=None, print=None, loop=new_loop(args.loop))


def new_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop's when asked (or `auto` and installed), else asyncio's own: as `gateway serve`."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise SystemExit("--loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


if __name__ == "__main__":
    main()
