"""Command line: `serve`, `counsellor add|set|disable|enable|delete` (cli_accounts.py),
`config check`, `report trusted-flagger|activity`, `privacy find|export|erase` (cli_privacy.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from gateway.core.audit import log_to_file
from gateway.core.accounts import create_counsellor, new_password
from gateway.domain.config import load_config
from gateway.core import reports
from gateway.domain.errors import ConfigError
from gateway.domain.reports import (
    ACTIVITY,
    TRUSTED_FLAGGER,
    ReportRefused,
    parse_format,
    parse_period,
    parse_year,
    render,
)
from gateway.domain.model import Role
from gateway.app.server import HANDLER_GRACE_SECONDS, SHUTDOWN_SECONDS, build_app, build_parts
from gateway.app.http_server import gateway_runner
from gateway.app.cli_privacy import add_privacy_parser, run_privacy
from gateway.app.cli_accounts import add_parser as add_counsellor_parser, run as run_counsellor

log = logging.getLogger("gateway")


def _load(path: str):
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error in {path}: {exc.key}: {exc.problem}", file=sys.stderr)
        raise SystemExit(2) from exc


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) start a graceful shutdown."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


async def _shut_down(runner: web.AppRunner) -> None:
    """aiohttp's cleanup (stop accepting, sockets closed with 1012, drain, resources closed;
    gateway/app/server.py), cut short after SHUTDOWN_SECONDS: the process exits 0 either way."""
    try:
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            await runner.cleanup()
    except TimeoutError:
        log.error("shutdown took over %.0f s; exiting without waiting further", SHUTDOWN_SECONDS)
    else:
        log.info("gateway stopped")


async def _serve(args: argparse.Namespace) -> None:
    config = _load(args.config)
    if os.environ.get("GATEWAY_AUDIT_FILE"):
        log_to_file(os.environ["GATEWAY_AUDIT_FILE"])  # who opened, handed over, erased, marked
    if os.environ.get("GATEWAY_LOG_LEVEL"):  # e.g. DEBUG (tests/test_log_canary.py reads every line)
        logging.getLogger().setLevel(os.environ["GATEWAY_LOG_LEVEL"].upper())
    parts = build_parts(config)
    app = build_app(parts, config_path=args.config)
    # Deadlines, no access log, client-free errors: gateway/app/http_server.py.
    # shutdown_timeout: requests under way at a SIGTERM.
    runner = gateway_runner(app, config, shutdown_timeout=HANDLER_GRACE_SECONDS)
    stop = asyncio.Event()
    _stop_on_signals(stop)  # before setup: a signal while starting stops as soon as it has started
    try:
        await runner.setup()  # if a resource fails to start, cleanup() closes those opened before it
        # --reuse-port: several processes listen on one port, the kernel spreads the connections
        # (SO_REUSEPORT, Linux): one process per core without a proxy in front.
        site = web.TCPSite(runner, args.host, args.port, reuse_port=args.reuse_port or None)
        await site.start()
        if parts.store.kind == "memory":
            password = new_password()
            await create_counsellor(parts.store, "demo", "Camille", password, Role.SUPERVISOR)
            print("In-memory store: nothing is kept after exit.")
            print(f"Console: http://{args.host}:{args.port}/console  login: demo  password: {password}")
        print(f"Widget demo: http://{args.host}:{args.port}/   health: http://{args.host}:{args.port}/healthz",
              flush=True)
        log.info("gateway listening on %s:%s (store %s, loop %s)", args.host, args.port, parts.store.kind,
                 type(asyncio.get_running_loop()).__module__.split(".")[0])
        await stop.wait()
        log.info("gateway stopping: draining for at most %.0f s", SHUTDOWN_SECONDS)
    finally:
        await _shut_down(runner)


REPORT_FLAGS = {"year": "--year", "from": "--from", "to": "--to", "format": "--format"}


def _report_refused(exc: ReportRefused) -> SystemExit:
    """A bad flag value: one line naming the flag, exit 2 (argparse's convention)."""
    print(f"{REPORT_FLAGS.get(exc.field, exc.field)}: {exc.message}", file=sys.stderr)
    return SystemExit(2)


async def _report(args: argparse.Namespace) -> None:
    """`report trusted-flagger|activity`: the report on stdout, read from the configured store."""
    try:  # the flags first: a typo answers at once, without a store
        output_format = parse_format(args.format, args.action)
        period = parse_year(args.year) if args.action == TRUSTED_FLAGGER else parse_period(args.from_date, args.to)
    except ReportRefused as exc:
        raise _report_refused(exc) from exc
    config = _load(args.config)
    try:
        parts = build_parts(config)
    except ConfigError as exc:
        print(f"config error in {args.config}: {exc.key}: {exc.problem}", file=sys.stderr)
        raise SystemExit(2) from exc
    if parts.store.kind == "memory":
        print("The memory store keeps nothing: set store.url to redis://… to report on stored data.",
              file=sys.stderr)
        raise SystemExit(2)
    await parts.store.start()
    try:
        if args.action == TRUSTED_FLAGGER:
            report = await reports.trusted_flagger_report(parts, period)
        else:
            report = await reports.activity_between(parts, *period)
    finally:
        await parts.store.close()
    sys.stdout.write(render(report, args.action, output_format, config.notices))


def _check_config(args: argparse.Namespace) -> None:
    try:
        load_config(args.file)
    except ConfigError as exc:
        print(f"{args.file}: invalid\n  {exc.key}: {exc.problem}")
        raise SystemExit(1) from exc
    print(f"{args.file}: valid")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway", description="3018 Gateway")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default="config.yaml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--reuse-port", action="store_true",
                       help="share the port with other gateway processes (SO_REUSEPORT): one per core")
    serve.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="asyncio",
                       help="event loop: asyncio's own (the default: as fast here, bench/README.md), uvloop, "
                            "or auto (uvloop when installed)")
    add_counsellor_parser(sub)  # gateway/app/cli_accounts.py
    config = sub.add_parser("config", help="configuration tools").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate a config file and explain each error")
    check.add_argument("file")
    report = sub.add_parser("report", help="the helpline's reports, on stdout (Redis store)").add_subparsers(
        dest="action", required=True)
    # Values checked by gateway/domain/reports.py (the HTTP routes' rules), not by argparse.
    flagger = report.add_parser(TRUSTED_FLAGGER, help="the DSA Art. 22(3) annual report of the notices")
    flagger.add_argument("--year", help="the year the notices were sent, e.g. 2026")
    flagger.add_argument("--format", default="json", help="json (default), csv or html")
    flagger.add_argument("--config", default="config.yaml")
    activity = report.add_parser(ACTIVITY, help="contacts, waits, qualifications and notices of a period")
    activity.add_argument("--from", dest="from_date", help="first day, AAAA-MM-JJ")
    activity.add_argument("--to", help="last day (included), AAAA-MM-JJ")
    activity.add_argument("--format", default="json", help="json (default) or csv")
    activity.add_argument("--config", default="config.yaml")
    add_privacy_parser(sub)
    return p


def _loop_factory(choice: str):
    """`serve --loop`: uvloop (libuv) when asked or, for `auto`, when importable; measured in
    bench/README.md. None is asyncio's own loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            print("--loop uvloop: uvloop is not installed (pip install uvloop; not on Windows)", file=sys.stderr)
            raise SystemExit(2) from None
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        try:
            with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
                runner.run(_serve(args))
        except KeyboardInterrupt:
            pass
    elif args.command == "counsellor":
        asyncio.run(run_counsellor(args))
    elif args.command == "config":
        _check_config(args)
    elif args.command == "report":
        asyncio.run(_report(args))
    elif args.command == "privacy":
        asyncio.run(run_privacy(args))
