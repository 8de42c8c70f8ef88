"""The terminal chat: a person plays a teen on Messenger or WhatsApp.

Each line typed becomes a signed webhook to the gateway; what the gateway sends that user
through the Graph API (received by a running stand-in, read over its `/_standin/sent`
long-poll) is printed as it arrives. Like a phone, the chat acknowledges what it shows:
"delivered" at once, "read" when the person next types.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from .server import StandIn

# Demo values, used when the environment does not set them (the gateway reads the same names).
DEMO_ENV = {
    "META_APP_SECRET": "demo-app-secret-not-for-production",
    "MESSENGER_PAGE_TOKEN": "demo-page-token",
    "MESSENGER_VERIFY_TOKEN": "demo-messenger-verify",
    "WHATSAPP_TOKEN": "demo-whatsapp-token",
    "WHATSAPP_VERIFY_TOKEN": "demo-whatsapp-verify",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
}


def settings(environ: dict[str, str] | os._Environ = os.environ) -> tuple[dict[str, str], list[str]]:
    """The secrets to use, and the names that fell back to a demo value."""
    values, defaulted = {}, []
    for name, demo in DEMO_ENV.items():
        values[name] = environ.get(name) or demo
        if not environ.get(name):
            defaulted.append(name)
    return values, defaulted


def make_standin(values: dict[str, str]) -> StandIn:
    return StandIn(values["META_APP_SECRET"], values["MESSENGER_PAGE_TOKEN"], values["WHATSAPP_TOKEN"],
                   values["WHATSAPP_PHONE_NUMBER_ID"])


@dataclass
class TeenPhone:
    """One teen's side of the conversation: what they send, what they saw, what they acked."""

    standin: StandIn
    channel: str
    gateway: str
    user: str
    unread: list[str] = field(default_factory=list)  # message ids shown but not yet "read"

    async def say(self, text: str) -> int:
        """The teen types a line: first they read what was on screen, then it is sent."""
        await self.mark_read()
        if self.channel == "whatsapp":
            status, _ = await self.standin.send_whatsapp_text(self.gateway, self.user, text)
        else:
            status, _ = await self.standin.send_messenger_text(self.gateway, self.user, text)
        return status

    async def shown(self, record: dict) -> str | None:
        """A Graph request for this user arrived: the line to print (None: nothing to show)."""
        if record.get("error_code") is not None:
            return f"  [Meta a refusé un envoi du conseiller : code {record['error_code']}]"
        if record.get("action") == "typing_on":
            return "  (en train d'écrire…)"
        text, message_id = record.get("text"), record.get("message_id")
        if text is None:
            return None
        if message_id:
            await self._delivered(message_id)
        return f"3018> {text}"

    async def _delivered(self, message_id: str) -> None:
        if self.channel == "whatsapp":
            await self.standin.send_whatsapp_status(self.gateway, message_id, "delivered", self.user)
        else:
            await self.standin.send_messenger_delivery(self.gateway, self.user, [message_id])
        self.unread.append(message_id)

    async def mark_read(self) -> None:
        if not self.unread:
            return
        if self.channel == "whatsapp":
            for message_id in self.unread:
                await self.standin.send_whatsapp_status(self.gateway, message_id, "read", self.user)
        else:
            await self.standin.send_messenger_read(self.gateway, self.user)
        self.unread.clear()


async def run_chat(channel: str, gateway: str, user: str | None, standin_url: str) -> int:
    values, defaulted = settings()
    standin = make_standin(values)
    user = user or default_user(channel)
    own_server = False
    try:
        last = await _recorded(standin_url)
        if last is None:
            parts = urlsplit(standin_url)
            await standin.start(parts.hostname or "127.0.0.1", parts.port or 8090)
            own_server, last = True, 0
            print(f"Aucun stand-in sur {standin_url} : démarré ici (meta.graph_api_url: {standin.url}).")
        if defaulted:
            print("Valeurs de démo pour : " + ", ".join(defaulted) + " (la passerelle doit utiliser les mêmes).")
        verify_name = "WHATSAPP_VERIFY_TOKEN" if channel == "whatsapp" else "MESSENGER_VERIFY_TOKEN"
        try:
            status, _ = await standin.verify(gateway, channel, values[verify_name])
        except aiohttp.ClientError:
            print(f"La passerelle {gateway} ne répond pas.")
            return 1
        if status != 200:
            print(f"Attention : la passerelle refuse la vérification {channel} (HTTP {status}) : canal désactivé "
                  f"ou {verify_name} différent.")
        phone = TeenPhone(standin, channel, gateway, user)
        print(f"{channel} — vous êtes l'utilisateur {user}. "
              "Tapez un message, Entrée pour l'envoyer, Ctrl-D pour quitter.")
        watcher = asyncio.create_task(_watch(phone, standin_url, last))
        try:
            await _type_lines(phone)
        finally:
            watcher.cancel()
        return 0
    finally:
        await standin.stop()
        if own_server:
            print("Stand-in arrêté.")


def default_user(channel: str) -> str:
    if channel == "whatsapp":
        return "336" + "".join(str(secrets.randbelow(10)) for _ in range(8))
    return "".join(str(secrets.randbelow(10)) for _ in range(16))


async def _type_lines(phone: TeenPhone) -> None:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:  # a daemon thread: it never holds the process at exit
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    while (line := await lines.get()) is not None:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        try:
            status = await phone.say(text)
        except aiohttp.ClientError as exc:
            print(f"  [non envoyé : la passerelle ne répond pas ({type(exc).__name__})]")
            continue
        if status != 200:
            print(f"  [la passerelle a répondu HTTP {status} au webhook]")


async def _watch(phone: TeenPhone, standin_url: str, after: int) -> None:
    params = {"channel": phone.channel, "user": phone.user, "wait": "25"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as http:
        while True:
            try:
                async with http.get(f"{standin_url}/_standin/sent", params={**params, "after": str(after)}) as reply:
                    page = await reply.json()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(1)
                continue
            after = page.get("last", after)
            for record in page.get("sent", []):
                line = await phone.shown(record)
                if line:
                    print(line, flush=True)


async def _recorded(standin_url: str) -> int | None:
    """How many requests a running stand-in has recorded; None when none answers."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(f"{standin_url}/_standin/health") as reply:
                return int((await reply.json())["recorded"])
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError):
        return None
