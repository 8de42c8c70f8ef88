"""`python -m gateway privacy find|export|erase`: a young person's rights from the command line.

The same use cases as the console's "Droits des jeunes" (gateway/core/privacy.py), audited with
by="cli". The searched number, PSID, pseudonym or code is an argument of this process only: it
is hashed at once, never printed, logged or stored. Refusals print one French line on stderr
and exit 2 (a bad argument, as argparse does) or 1 (unknown, erased).
"""

from __future__ import annotations

import argparse
import os
import sys

from gateway.core import privacy
from gateway.core.audit import log_to_file
from gateway.core.helpline import Helpline
from gateway.domain import privacy as rules
from gateway.domain.config import load_config
from gateway.domain.errors import ConfigError, GatewayError
from gateway.app.server import build_parts


def add_privacy_parser(sub: argparse._SubParsersAction) -> None:
    """`privacy find|export|erase`, added to the main parser (gateway/app/cli.py)."""
    actions = sub.add_parser("privacy", help="a young person's rights: find, export, erase (Redis store)"
                             ).add_subparsers(dest="action", required=True)
    find = actions.add_parser("find", help="their conversations, newest first, one line each")
    find.add_argument("--channel", choices=[c.value for c in rules.ID_CHANNELS], help="with --id")
    find.add_argument("--id", dest="platform_id", help="phone number (WhatsApp) or PSID (Messenger)")
    find.add_argument("--alias", help='the pseudonym, e.g. "Jeune 4821"')
    find.add_argument("--since", help="with --alias: opened on or after this day, YYYY-MM-DD")
    find.add_argument("--code", help="the widget's follow-up code, e.g. 7K4-2QX")
    find.add_argument("--config", default="config.yaml")
    export = actions.add_parser("export", help="the conversation as the teen saw it, on stdout (Art. 15)")
    export.add_argument("conversation_id")
    export.add_argument("--format", default="txt", help="txt (default) or json")
    export.add_argument("--config", default="config.yaml")
    erase = actions.add_parser("erase", help="close if open, then erase its texts and ids (Art. 17)")
    erase.add_argument("conversation_id")
    erase.add_argument("--config", default="config.yaml")


def _fail(message: str, code: int) -> SystemExit:
    print(message, file=sys.stderr)
    return SystemExit(code)


def _query(args: argparse.Namespace) -> rules.FindQuery:
    if args.since and not args.alias:
        raise _fail("--since : seulement avec --alias.", 2)
    if (args.channel is None) != (args.platform_id is None):
        raise _fail("--channel et --id vont ensemble.", 2)
    body = {"channel": args.channel, "id": args.platform_id, "alias": args.alias, "since": args.since,
            "code": args.code}
    try:
        return rules.parse_find(body)
    except rules.PrivacyRefused as exc:
        flag = {"id": "--id", "alias": "--alias", "since": "--since", "code": "--code",
                "channel": "--channel"}.get(exc.field, "find")
        raise _fail(f"{flag} : {exc.message}", 2) from exc


def _helpline(path: str) -> Helpline:
    try:
        parts = build_parts(load_config(path))
    except ConfigError as exc:
        raise _fail(f"config error in {path}: {exc.key}: {exc.problem}", 2) from exc
    if parts.store.kind == "memory":
        raise _fail("The memory store keeps nothing: set store.url to redis://… to reach stored conversations.", 2)
    return Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)


async def run_privacy(args: argparse.Namespace) -> None:
    query = _query(args) if args.action == "find" else None  # a typo answers before any store
    if args.action == "export" and args.format not in rules.FORMATS:
        raise _fail("--format : txt ou json.", 2)
    if os.environ.get("GATEWAY_AUDIT_FILE"):
        log_to_file(os.environ["GATEWAY_AUDIT_FILE"])
    helpline = _helpline(args.config)
    await helpline.store.start()
    await helpline.bus.start()  # an erase of an open conversation tells the teen and the consoles
    try:
        await _act(helpline, args, query)
    except GatewayError as exc:
        if getattr(exc, "http_status", 500) >= 500:
            raise
        raise _fail(getattr(exc, "message", None) or str(exc), 1) from exc
    finally:
        await helpline.bus.close()
        await helpline.store.close()


async def _act(helpline: Helpline, args: argparse.Namespace, query: rules.FindQuery | None) -> None:
    if query is not None:
        found = await privacy.find(helpline, privacy.CLI, query)
        for conversation in found:
            print(rules.found_line(rules.found_view(conversation)))
        if not found:
            print("Aucune conversation trouvée.", file=sys.stderr)
    elif args.action == "export":
        sys.stdout.write(await privacy.export(helpline, privacy.CLI, args.conversation_id, args.format))
    else:
        erased = await privacy.erase(helpline, privacy.CLI, args.conversation_id)
        print(rules.found_line(rules.found_view(erased)))
