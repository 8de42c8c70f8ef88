"""`python -m gateway counsellor add|set|disable|enable|delete`: counsellor accounts, on the Redis store.

Why on Redis only: the memory store lives inside one gateway process, a command run beside it
would change a store nobody reads. A password never goes through argv (stdin or generated).
disable / enable / delete run the use cases of core/accounts.py through the store and the bus
on the configured URL, so the running gateways react at once (their consoles close, the teens
are handed back); this process builds a Helpline without starting its dispatcher.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable

from gateway.app.server import Parts, build_parts
from gateway.core.accounts import (
    AccountChange,
    create_counsellor,
    delete_counsellor,
    disable_counsellor,
    enable_counsellor,
    new_password,
    parse_skills,
)
from gateway.core.audit import log_to_file
from gateway.core.helpline import Helpline
from gateway.domain.config import Config, load_config
from gateway.domain.errors import ConfigError
from gateway.domain.model import Role

MEMORY_REFUSED = "The memory store keeps nothing: set store.url to redis://… to manage lasting accounts."


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The `counsellor` command and its actions, on the main parser's subcommands."""
    counsellor = sub.add_parser("counsellor", help="manage counsellor accounts (Redis store)").add_subparsers(
        dest="action", required=True)
    add = counsellor.add_parser("add", help="create an account (Redis store)")
    add.add_argument("username")
    add.add_argument("--display-name", help="the name teens see, e.g. a first name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.COUNSELLOR.value)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--skills", help="comma-separated, e.g. psychologue,juriste")
    add.add_argument("--max", type=int, choices=range(1, 51), metavar="N", help="capacity override (1-50)")
    add.add_argument("--config", default="config.yaml")
    change = counsellor.add_parser("set", help="change skills, capacity or role (Redis store)")
    change.add_argument("username")
    change.add_argument("--skills", help="comma-separated; '' clears them")
    group = change.add_mutually_exclusive_group()
    group.add_argument("--max", type=int, choices=range(1, 51), metavar="N", help="capacity override (1-50)")
    group.add_argument("--default-max", action="store_true", help="back to routing.max_conversations_per_counsellor")
    change.add_argument("--role", choices=[r.value for r in Role])
    change.add_argument("--config", default="config.yaml")
    for action, text in (("disable", "no more logins; sessions closed, conversations back to the queue"),
                         ("enable", "allow logins again after a disable"),
                         ("delete", "disable, then delete the account and its personal data (the id stays)")):
        command = counsellor.add_parser(action, help=text)
        command.add_argument("username")
        command.add_argument("--config", default="config.yaml")


async def run(args: argparse.Namespace) -> None:
    await ACTIONS[args.action](args)


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error in {path}: {exc.key}: {exc.problem}", file=sys.stderr)
        raise SystemExit(2) from exc


def _redis_parts(path: str) -> Parts:
    """The configured store and bus, refused on the memory store (exit 2)."""
    parts = build_parts(_load(path))
    if parts.store.kind == "memory":
        print(MEMORY_REFUSED, file=sys.stderr)
        raise SystemExit(2)
    return parts


async def _add(args: argparse.Namespace) -> None:
    parts = _redis_parts(args.config)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        generated = False
    else:
        password, generated = new_password(), True
    await parts.store.start()
    try:
        counsellor = await create_counsellor(parts.store, args.username, args.display_name or args.username,
                                             password, Role(args.role), parse_skills(args.skills or ""), args.max)
    except ValueError as exc:
        print(f"cannot create {args.username!r}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        await parts.store.close()
    print(f"created {counsellor.role.value} {counsellor.username!r}")
    if generated:
        print(f"password: {password}")


async def _set(args: argparse.Namespace) -> None:
    """Change skills, capacity or role of an existing account, disabled or not (takes effect at
    the next assignment)."""
    parts = _redis_parts(args.config)
    await parts.store.start()
    try:
        found = await parts.store.counsellor_by_username(args.username)
        if found is None:
            print(f"no account {args.username!r}", file=sys.stderr)
            raise SystemExit(2)
        updated = await parts.store.update_counsellor(
            found.id, skills=parse_skills(args.skills) if args.skills is not None else None,
            max_conversations=args.max, clear_max=args.default_max, role=Role(args.role) if args.role else None)
    except ValueError as exc:
        print(f"cannot update {args.username!r}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        await parts.store.close()
    if updated is not None:
        cap = updated.max_conversations or "default"
        state = " (disabled)" if updated.disabled else ""
        print(f"{updated.username}: role {updated.role.value}, skills {', '.join(sorted(updated.skills)) or '-'}, "
              f"capacity {cap}{state}")


async def _lifecycle(args: argparse.Namespace,
                     use_case: Callable[[Helpline, str], Awaitable[AccountChange]], done: str) -> None:
    """One of disable / enable / delete, with the store and the bus started, then closed."""
    parts = _redis_parts(args.config)
    if os.environ.get("GATEWAY_AUDIT_FILE"):
        log_to_file(os.environ["GATEWAY_AUDIT_FILE"])  # the same audit file as the gateway's
    await parts.store.start()
    try:
        await parts.bus.start()
        try:
            helpline = Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
            change = await use_case(helpline, args.username)
        finally:
            await parts.bus.close()
    except LookupError as exc:
        print(f"no account {args.username!r}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        await parts.store.close()
    print(f"{args.username}: {done} ({change.sessions_ended} sessions closed, "
          f"{change.handed_back} conversations back to the queue)" if args.action != "enable"
          else f"{args.username}: {done}")
    if change.admins_left == 0:
        print("warning: no enabled admin account is left; create one with `counsellor add --role admin`",
              file=sys.stderr)


async def _disable(args: argparse.Namespace) -> None:
    await _lifecycle(args, disable_counsellor, "disabled")


async def _enable(args: argparse.Namespace) -> None:
    await _lifecycle(args, enable_counsellor, "enabled")


async def _delete(args: argparse.Namespace) -> None:
    await _lifecycle(args, delete_counsellor, "deleted")


ACTIONS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "add": _add, "set": _set, "disable": _disable, "enable": _enable, "delete": _delete,
}
