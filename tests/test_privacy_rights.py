"""A young person's rights (issue #14, item 7): find, export (Art. 15), erase (Art. 17).

The pure rules (a number typed any way, a search refused in French, an export that cannot hold a
note); the erasure receipts on both stores; then the issue's "done when": a WhatsApp teen (the
Meta stand-in plays Meta) found by phone number three weeks after the chat, exported and erased
through the console's routes, on memory and on Redis; and the same from `python -m gateway
privacy` in a real process on a Redis of the test's own. No searched id, pseudonym or code ever
reaches the audit log or the output of a search.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gateway.core.ports import MessageId, NewMessage, Store
from gateway.domain import privacy as rules
from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState, Message, Role
from gateway.domain.pseudonym import Pseudonyms
from gateway.store.redis import RedisStore
from tests.clients import Console
from tests.conversations import PHONE, PSID
from tests.harness import PASSWORD, make_config, running_gateway
from tests.processes import ROOT, gateway_env, write_config

DAY = 24 * 3600
T0 = 1_750_000_000.0
NUMBER_FORMATS = ("33612345678", "+33 6 12 34 56 78", "06 12 34 56 78", "06.12.34.56.78", "0033612345678",
                  "+33-6-12-34-56-78")
TEEN_TEXT = "il me menace de publier mes photos"
REPLY_TEXT = "Je suis là, on va trouver une solution ensemble."
NOTE_TEXT = "NOTE-INTERNE penser au signalement Pharos"


# --- the pure rules ---------------------------------------------------------------------------------

def test_a_whatsapp_number_typed_any_way_is_the_one_meta_sends() -> None:
    for typed in NUMBER_FORMATS:
        assert rules.normal_platform_id(Channel.WHATSAPP, typed) == PHONE, typed
    assert rules.normal_platform_id(Channel.WHATSAPP, "+44 7700 900123") == "447700900123"


def test_a_search_that_cannot_be_one_is_refused_in_french_naming_the_field() -> None:
    cases = [({"channel": "whatsapp", "id": "06 12"}, "id"), ({"channel": "web", "id": PHONE}, "channel"),
             ({"channel": "messenger", "id": "abc"}, "id"), ({"alias": "Jeune 12"}, "alias"),
             ({"alias": "Jeune 4821", "since": "1/12/2026"}, "since"), ({}, "body"),
             ({"alias": "Jeune 4821", "code": "7K4-2QX"}, "body"), ([PHONE], "body")]
    for body, field in cases:
        with pytest.raises(rules.PrivacyRefused) as refused:
            rules.parse_find(body)
        assert refused.value.field == field, body
        assert PHONE not in refused.value.message
    assert rules.parse_find({"alias": " jeune 4821 "}) == rules.ByAlias("Jeune 4821")
    assert rules.parse_find({"channel": "messenger", "id": PSID}) == rules.ByPlatformId(Channel.MESSENGER, PSID)


def test_an_export_never_holds_an_internal_note_even_if_a_caller_forgets_to_filter() -> None:
    conversation = Conversation(id="c1", channel=Channel.WEB, sender_key="k", alias="Jeune 1234",
                                state=ConversationState.CLOSED, opened_at=T0, closed_at=T0 + 60)
    with pytest.raises(ValueError):
        rules.export_document(conversation, [Message("c1", 1, Author.NOTE, "interne", T0)])


# --- the store contract: erasure receipts (both stores) ---------------------------------------------

async def test_an_erasure_receipt_holds_until_its_end_and_then_is_gone(store: Store) -> None:
    await store.remember_erasure("k1", "c1", T0 + 100, T0)
    await store.remember_erasure("k1", "c2", T0 + 300, T0)
    await store.remember_erasure("k1", "c3", T0, T0)  # already over: nothing kept
    assert sorted(await store.erasures_of_sender("k1", T0 + 50)) == ["c1", "c2"]
    assert await store.erasures_of_sender("k1", T0 + 200) == ["c2"]
    assert await store.erasures_of_sender("k1", T0 + 300) == []
    assert await store.erasures_of_sender("k2", T0) == []


async def test_a_redis_receipt_expires_by_itself(make_store) -> None:
    store = await make_store("redis")
    await store.remember_erasure("k1", "c1", T0 + 100, T0)
    await store.remember_erasure("k1", "c2", T0 + 40, T0)  # a shorter receipt never shortens the key's TTL
    ttl = await store._r.ttl(f"{store._keys.prefix}:erased:k1")
    assert 90 <= ttl <= 100


# --- the "done when": three weeks later, by phone number, through the console -------------

@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url, standin):
    return make_config(store_url, prefix=f"p{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


async def post(console: Console, base: str, path: str, body=None, **headers):
    async with console.http.post(path, json=body, headers={"Origin": base, **headers}) as r:
        return r.status, await r.json()


async def export_of(console: Console, conversation_id: str, output_format: str):
    async with console.http.get(f"/api/console/privacy/export/{conversation_id}?format={output_format}") as r:
        return r.status, await r.text(), r.headers


async def a_closed_whatsapp_chat(gw, standin) -> dict:
    """Léa (username "lea-b") answers the teen, writes an internal note, closes the chat."""
    async with await gw.on_duty("lea-b", "Léa") as console:
        status, _ = await standin.send_whatsapp_text(gw.http, PHONE, TEEN_TEXT)
        assert status == 200
        conversation = await console.assigned()
        await console.reply(conversation["id"], REPLY_TEXT)
        await console.send({"type": "note", "conversation_id": conversation["id"], "text": NOTE_TEXT})
        await console.message(conversation["id"], where=lambda m: m["from"] == "note")
        await console.send({"type": "close", "conversation_id": conversation["id"]})
        await console.next("conversation", where=lambda f: f["conversation"]["id"] == conversation["id"]
                           and f["conversation"]["state"] == "closed")
    return conversation


async def supervisor(gw) -> Console:
    await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
    return await Console.login(gw.http, "sam", PASSWORD)


async def test_a_whatsapp_teen_found_by_number_three_weeks_later_is_exported_then_erased(
        config, standin, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gateway.audit")
    async with running_gateway(config) as gw:
        chat = await a_closed_whatsapp_chat(gw, standin)
        gw.clock.advance(21 * DAY)  # retention is 30 days: the chat is still there, out of every list of today
        async with await supervisor(gw) as sam:
            for typed in NUMBER_FORMATS:
                status, found = await post(sam, gw.http, "/api/console/privacy/find",
                                           {"channel": "whatsapp", "id": typed})
                assert status == 200, found
                assert [(c["id"], c["state"], c["erased"]) for c in found["conversations"]] == \
                    [(chat["id"], "closed", False)], typed
            row = found["conversations"][0]
            assert row["alias"] == chat["alias"] and row["opened_at"].startswith("2026-11-24T10:0")
            assert row["opened_at"].endswith("+01:00") and PHONE not in json.dumps(found)

            status, text, headers = await export_of(sam, chat["id"], "txt")
            assert status == 200, text
            assert headers["Content-Disposition"].startswith("attachment;")
            assert TEEN_TEXT in text and REPLY_TEXT in text and "Léa" in text and "24/11/2026 10:0" in text
            assert NOTE_TEXT not in text and "lea-b" not in text and PHONE not in text
            status, raw, headers = await export_of(sam, chat["id"], "json")
            assert status == 200 and headers["Content-Type"].startswith("application/json")
            document = json.loads(raw)
            said = [(m["from"], m["name"], m["text"]) for m in document["messages"]]
            assert ("jeune", None, TEEN_TEXT) in said and ("ecoutant", "Léa", REPLY_TEXT) in said
            assert any(who == "automatique" for who, _, _ in said)  # the close notice the teen received
            assert NOTE_TEXT not in raw and "lea-b" not in raw and PHONE not in raw
            assert "priority_reason" not in raw and "counsellor_id" not in raw

            status, erased = await post(sam, gw.http, f"/api/console/privacy/erase/{chat['id']}")
            assert status == 200 and erased["erased"] is True, erased
            status, found = await post(sam, gw.http, "/api/console/privacy/find", {"channel": "whatsapp", "id": PHONE})
            assert [(c["id"], c["erased"]) for c in found["conversations"]] == [(chat["id"], True)]
            status, text, _ = await export_of(sam, chat["id"], "txt")
            assert status == 410 and "effacée" in json.loads(text)["error"]
            assert await gw.helpline.store.messages(chat["id"]) == []
    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.audit"]
    actions = [a["action"] for a in audit]
    assert actions.count("privacy_find") == len(NUMBER_FORMATS) + 1
    assert "privacy_export" in actions and "erase" in actions
    for entry in audit:
        assert PHONE not in json.dumps(entry) and chat["alias"] not in json.dumps(entry)


async def test_a_pseudonym_search_finds_the_chat_and_a_counsellor_is_refused(config, standin) -> None:
    async with running_gateway(config) as gw:
        chat = await a_closed_whatsapp_chat(gw, standin)
        async with await supervisor(gw) as sam:
            status, found = await post(sam, gw.http, "/api/console/privacy/find", {"alias": chat["alias"]})
            assert status == 200 and chat["id"] in [c["id"] for c in found["conversations"]]
            status, found = await post(sam, gw.http, "/api/console/privacy/find",
                                       {"alias": chat["alias"], "since": "2026-11-25"})
            assert (status, found["conversations"]) == (200, [])
            stored = await gw.helpline.store.get_conversation(chat["id"])  # as if the teen had asked for a code
            code_hash = gw.helpline.pseudonyms.sender_key("follow_up", "7K42QX")
            await gw.helpline.store.save_follow_up_code(code_hash, stored.sender_key, 3600)
            status, found = await post(sam, gw.http, "/api/console/privacy/find", {"code": "7k4-2qx"})
            assert [c["id"] for c in found["conversations"]] == [chat["id"]]
            status, found = await post(sam, gw.http, "/api/console/privacy/find", {"code": "7K4-2QY"})
            assert (status, found["conversations"]) == (200, [])
            status, refused = await post(sam, gw.http, "/api/console/privacy/find", {"alias": "Jeune"})
            assert (status, refused["field"]) == (400, "alias")
            status, refused = await post(sam, gw.http, "/api/console/privacy/find", {"alias": chat["alias"]},
                                         Origin="https://evil.example")
            assert status == 403
        async with await Console.login(gw.http, "lea-b", PASSWORD) as lea:
            status, refused = await post(lea, gw.http, "/api/console/privacy/find", {"channel": "whatsapp", "id": PHONE})
            assert status == 403 and set(refused) == {"error"}
            assert (await export_of(lea, chat["id"], "txt"))[0] == 403
            status, _ = await post(lea, gw.http, f"/api/console/privacy/erase/{chat['id']}")
            assert status == 403
            assert await gw.helpline.store.messages(chat["id"])  # nothing erased by a counsellor


# --- the command line, in a real process -------------------------------------------------------------

def run_privacy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "privacy", *args], cwd=ROOT, env=gateway_env(),
                          capture_output=True, text=True, timeout=60, check=False)


async def seed_whatsapp_chat(store: Store, closed_at: float) -> Conversation:
    """A WhatsApp chat closed at `closed_at` (the CLI runs on the wall clock), stored the intake's way."""
    sender_key = Pseudonyms(os.environ["GATEWAY_PSEUDONYM_KEY"].encode()).sender_key("whatsapp", PHONE)
    opened_at = closed_at - 1800
    new = Conversation(id=uuid.uuid4().hex, channel=Channel.WHATSAPP, sender_key=sender_key,
                       alias=Pseudonyms.alias(sender_key), state=ConversationState.QUEUED, opened_at=opened_at,
                       queued_at=opened_at, reply_to=PHONE)
    stored = await store.store_inbound(MessageId("whatsapp", uuid.uuid4().hex, 60), sender_key,
                                       NewMessage(Author.TEEN, TEEN_TEXT, opened_at), new)
    assert stored.created
    await store.append_message(new.id, NewMessage(Author.COUNSELLOR, REPLY_TEXT, opened_at + 60, "Léa"))
    await store.append_message(new.id, NewMessage(Author.NOTE, NOTE_TEXT, opened_at + 90))
    return await store.close_conversation(new.id, CloseReason.BY_COUNSELLOR, closed_at)


async def test_the_command_line_finds_exports_and_erases_three_weeks_later(redis_url, tmp_path: Path) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    config = str(write_config(tmp_path / "config.yaml", redis_url, prefix))
    store = RedisStore(redis_url, prefix=prefix)
    await store.start()
    try:
        chat = await seed_whatsapp_chat(store, time.time() - 21 * DAY)
        for typed in ("33612345678", "+33 6 12 34 56 78", "06 12 34 56 78"):
            done = run_privacy("find", "--channel", "whatsapp", "--id", typed, "--config", config)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert len(lines) == 1 and lines[0].split("\t")[0] == chat.id and lines[0].endswith("\tnon effacée")
            assert PHONE not in done.stdout + done.stderr
        done = run_privacy("find", "--alias", chat.alias, "--config", config)
        assert chat.id in done.stdout
        done = run_privacy("export", chat.id, "--config", config)
        assert done.returncode == 0 and TEEN_TEXT in done.stdout and "Léa" in done.stdout
        assert NOTE_TEXT not in done.stdout and PHONE not in done.stdout
        done = run_privacy("export", chat.id, "--format", "json", "--config", config)
        texts = [m["text"] for m in json.loads(done.stdout)["messages"]]
        assert texts == [TEEN_TEXT, REPLY_TEXT]
        done = run_privacy("erase", chat.id, "--config", config)
        assert done.returncode == 0, done.stderr
        assert '"action":"erase"' in done.stderr and '"by":"cli"' in done.stderr  # the audit line
        done = run_privacy("find", "--channel", "whatsapp", "--id", "+33612345678", "--config", config)
        assert done.stdout.splitlines()[0].endswith("\teffacée")
        done = run_privacy("export", chat.id, "--config", config)
        assert done.returncode == 1 and "effacée" in done.stderr and done.stdout == ""
        done = run_privacy("find", "--channel", "whatsapp", "--id", "06 12", "--config", config)
        assert done.returncode == 2 and done.stderr.startswith("--id")
        assert await store.messages(chat.id) == []
    finally:
        await store.close()
