"""`python -m meta_standin` — serve the Meta stand-in for a demo; `… chat` — play a teen.

    python -m meta_standin [--host 127.0.0.1] [--port 8090]
    python -m meta_standin chat --channel whatsapp|messenger --gateway http://127.0.0.1:8080
                                [--user ID] [--standin http://127.0.0.1:8090]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .chat import default_user, make_standin, run_chat, settings


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m meta_standin",
                                description="Meta (Graph API + webhooks) stand-in for demos. "
                                            "Subcommand `chat` plays a teen from the terminal.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    return p


def chat_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m meta_standin chat",
                                description="Play a teen on Messenger or WhatsApp against a running gateway.")
    p.add_argument("--channel", choices=["whatsapp", "messenger"], required=True)
    p.add_argument("--gateway", default="http://127.0.0.1:8080", help="the gateway's base URL")
    p.add_argument("--user", help="the teen's phone number (WhatsApp) or PSID (Messenger); random by default")
    p.add_argument("--standin", default="http://127.0.0.1:8090",
                   help="a running stand-in (started here on that port when none answers)")
    return p


async def serve(host: str, port: int) -> None:
    values, defaulted = settings()
    standin = make_standin(values)
    url = await standin.start(host, port)
    print(f"Meta stand-in on {url} (Graph API {standin.version}, webhooks signed with META_APP_SECRET).")
    if defaulted:
        print("Demo values; give the gateway the same environment:")
        for name in defaulted:
            print(f"  export {name}={values[name]}")
    print(f"In the gateway's config.yaml:  meta: {{graph_api_url: \"{url}\"}}")
    print(f"Then:  python -m meta_standin chat --channel whatsapp --standin {url} --user {default_user('whatsapp')}")
    print("Control: POST /_standin/fail {channel, code, times}; GET /_standin/sent. Ctrl-C to stop.")
    seen = 0
    try:
        while True:
            await asyncio.sleep(0.5)
            for record in standin.sent[seen:]:
                what = record.text if record.text is not None else (record.action or "")
                outcome = f"error {record.error_code}" if record.error_code is not None else "ok"
                print(f"  graph {record.channel:<9} {record.path}  {outcome}  {what[:80]}")
            seen = len(standin.sent)
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["chat"]:
            args = chat_parser().parse_args(argv[1:])
            return asyncio.run(run_chat(args.channel, args.gateway.rstrip("/"), args.user, args.standin.rstrip("/")))
        args = serve_parser().parse_args(argv[1:] if argv[:1] == ["serve"] else argv)
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
