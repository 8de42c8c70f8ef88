"""Arbitrary frames at both sockets of a running gateway, arbitrary documents at the config parser.

Sockets: whatever a client sends after a valid start, the server answers with `error` frames
(or the answers a valid frame deserves), never dies (a marker frame sent after each one is
still answered), and stores nothing for a refused frame. Config: `parse_config` raises
ConfigError and nothing else, and what it accepts can be used.
The webhooks are fuzzed in test_webhook_fuzz.py.

The expected outcome of each frame comes from docs/protocol.md, written out here (`widget_verdict`,
`clean`), not from the gateway's code.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass

import orjson
import pytest
import websockets
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gateway.domain.config import MESSAGE_FIELDS, TOP_LEVEL_KEYS, parse_config
from gateway.domain.errors import ConfigError
from gateway.domain.model import Author, ConversationState
from tests.clients import Console, Widget
from tests.harness import make_config, running_gateway

MAX_TEXT = 2000  # limits.max_message_chars, default
MAX_FRAME_BYTES = 16 * 1024  # larger frames close the socket (1009): tested in test_security_attacks.py
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # protocol: a random id of at most 64 characters
FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
client_ids = st.one_of(
    st.from_regex(CLIENT_ID, fullmatch=True),
    st.sampled_from(["c-1", "c-1", "c-2", "a" * 64, "a" * 65, "", "<b>x</b>", "é", "ok\n", " ok"]),
    st.text(max_size=70), json_values,
)
texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["bonjour", "", "   ", "\x00\x01\x7f", "\n\t", "a\u0000b", "x" * MAX_TEXT, "x" * (MAX_TEXT + 1),
                     "é" * MAX_TEXT, "<script>alert(1)</script>", "\u202e\u200b"]),
    json_values,
)


@dataclass(frozen=True)
class Raw:
    """A text frame sent exactly as is."""

    data: str


def as_raw(value) -> Raw:
    return Raw(json.dumps(value))


def clean(text: str) -> str | None:
    """A message text as the protocol stores it (control characters other than newline and tab
    dropped), or None if it must be refused (not text, empty, too long)."""
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return kept if kept.strip() and len(kept) <= MAX_TEXT else None


def parsed(raw: Raw) -> dict | None:
    try:
        value = orjson.loads(raw.data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class Exchange:
    """Send a frame, then a marker the server can only refuse; every frame before the marker's
    error is the answer to the first one (frames are handled in order on one socket)."""

    def __init__(self, client):
        self.client = client
        self.count = 0

    async def __call__(self, raw: Raw) -> list[dict]:
        self.count += 1
        marker = f"marker-{self.count}"
        await self.client.ws.send(raw.data)
        await self.client.ws.send(json.dumps({"type": "marker", "client_id": marker}))
        answers = []
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.client.ws.recv())
                if frame.get("type") == "error" and frame.get("client_id") == marker:
                    assert frame["code"] == "unknown_type"
                    return answers
                answers.append(frame)


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Both stores: on Redis, a seq out of range once killed the widget's connection handler."""
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


def fuzz_config(store_url: str, **overrides):
    return make_config(store_url, prefix=f"f{uuid.uuid4().hex[:10]}", **overrides)


def run(loop: asyncio.AbstractEventLoop, coroutine):
    return loop.run_until_complete(coroutine)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the stopped gateway left sleeping (the console's offline grace), then close."""
    async def cancel_the_rest() -> None:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(cancel_the_rest())
    loop.close()


# --- widget ----------------------------------------------------------------------------------------

valid_messages = st.fixed_dictionaries({"type": st.just("message"), "client_id": st.from_regex(CLIENT_ID, fullmatch=True),
                                        "text": st.text(min_size=1, max_size=40)})
widget_frames = st.one_of(
    valid_messages.map(as_raw),
    st.text(max_size=120).map(Raw),
    json_values.map(as_raw),
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["message"] * 6 + ["typing", "end", "hello", "Message", "ack", "",
                                                              "follow_up_code", "survey_answer"]),
                           json_values)},
        optional={"client_id": client_ids, "text": texts, "active": json_values, "token": json_values,
                  "last_seq": json_values,
                  "value": st.one_of(st.sampled_from(["oui", "un_peu", "non", "bof", "OUI"]), json_values)},
    ).map(as_raw),
)


def widget_verdict(frame: dict | None, used_ids: set[str]) -> str:
    """What the protocol says the widget must answer: error, stored, duplicate, silent or end."""
    if frame is None:
        return "error"
    kind = frame.get("type")
    if kind == "typing":  # `active` is a boolean, checked before anything is done
        return "silent" if isinstance(frame.get("active"), bool) else "error"
    if kind == "end":
        return "end"
    if kind == "follow_up_code":  # nobody answers in this fuzz: no ended chat to give a code for
        return "error"
    if kind == "survey_answer":  # a known answer is thanked (never counted here: nothing was asked)
        return "thanked" if any(frame.get("value") == v for v in ("oui", "un_peu", "non")) else "error"
    if kind != "message":
        return "error"
    client_id, text = frame.get("client_id"), frame.get("text")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        return "error"
    if not isinstance(text, str) or clean(text) is None:
        return "error"
    return "duplicate" if client_id in used_ids else "stored"


async def teen_lines(helpline) -> list[str]:
    lines = []
    for conversation in await helpline.store.conversations_since(0):
        lines += [m.text for m in await helpline.store.messages(conversation.id) if m.author is Author.TEEN]
    return lines


def test_widget_frames_after_hello_get_errors_or_acks_and_bad_ones_store_nothing(store_url):
    loop = asyncio.new_event_loop()
    gateway = running_gateway(fuzz_config(store_url, limits={"widget_messages_per_minute": 600}))
    gw = run(loop, gateway.__aenter__())
    teen = run(loop, Widget.connect(gw.ws))
    exchange = Exchange(teen)
    used_ids: set[str] = set()
    verdicts: set[str] = set()

    @FUZZ_SETTINGS
    @given(raw=widget_frames)
    def check(raw: Raw) -> None:
        assume(len(raw.data.encode()) <= MAX_FRAME_BYTES)
        before = run(loop, teen_lines(gw.helpline))
        answers = run(loop, exchange(raw))
        frame = parsed(raw)
        verdict = widget_verdict(frame, used_ids)
        verdicts.add(verdict)
        after = run(loop, teen_lines(gw.helpline))
        kinds = [a["type"] for a in answers if a["type"] != "state"]  # queue positions are pushed any time
        errors = [a for a in answers if a["type"] == "error"]
        for error in errors:
            assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
            if isinstance((frame or {}).get("client_id"), str):
                assert error["client_id"] == frame["client_id"][:64]
        assert not any(a["type"] == "message" and a["message"]["from"] in ("teen", "note") for a in answers)
        if verdict == "stored":
            used_ids.add(frame["client_id"])  # now, so a replayed example expects a duplicate
        if verdict == "error":
            assert kinds == ["error"], (raw, answers)
            assert after == before, raw  # nothing stored
        elif verdict in ("stored", "duplicate"):
            acks = [a for a in answers if a["type"] == "ack"]
            assert not errors and len(acks) == 1 and acks[0]["client_id"] == frame["client_id"], (raw, answers)
            assert set(kinds) <= {"ack", "message"}, answers
            if verdict == "stored":
                assert acks[0]["message"] is not None and acks[0]["message"]["text"] == clean(frame["text"]), answers
                # Multisets: conversations opened at the same (frozen) instant have no set order.
                assert Counter(after) == Counter(before) + Counter([clean(frame["text"])])
            else:
                assert acks[0]["message"] is None and acks[0]["duplicate"] is True and after == before
        elif verdict == "thanked":
            assert not errors and "survey_thanks" in kinds and set(kinds) <= {"survey_thanks", "message"}, answers
            assert after == before
        else:  # typing (nobody is assigned) or end: nothing stored from the teen, no error
            assert not errors and set(kinds) <= {"message"}, (raw, answers)
            assert after == before

    try:
        check()
        # The socket is still usable: a valid message after all that is stored and acknowledged.
        ack = run(loop, teen.say("toujours là", client_id=f"final-{uuid.uuid4().hex[:8]}"))
        assert ack["message"]["text"] == "toujours là"
        assert {"error", "stored"} <= verdicts
    finally:
        run(loop, teen.close())
        run(loop, gateway.__aexit__(None, None, None))
        close_loop(loop)


# --- the hello frame ------------------------------------------------------------------------------

hello_frames = st.one_of(
    st.text(max_size=60).map(Raw),
    json_values.map(as_raw),
    st.fixed_dictionaries({"type": st.sampled_from(["hello", "hello", "message"])},
                          optional={"token": st.one_of(json_values, st.from_regex(r"[A-Za-z0-9_-]{20,70}",
                                                                                  fullmatch=True)),
                                    "last_seq": st.one_of(json_values, st.sampled_from([2**31 - 1, 2**31, 2**63, -1])),
                                    "missing": st.one_of(json_values, st.lists(st.integers(-1, 2**32), max_size=5),
                                                         st.just(list(range(1, 300))))}).map(as_raw),
)
MAX_SEQ = 2**31 - 1  # protocol: a seq is a whole number from 0 to 2^31 - 1


def is_seq(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ


def hello_valid(frame: dict) -> bool:
    """docs/protocol.md: `last_seq` a seq (or absent/null), `missing` at most 256 seqs ≥ 1 (or absent/null)."""
    last_seq, missing = frame.get("last_seq"), frame.get("missing")
    return (last_seq is None or is_seq(last_seq)) and (
        missing is None or (isinstance(missing, list) and len(missing) <= 256
                            and all(is_seq(s) and s >= 1 for s in missing)))


def test_any_first_frame_gets_a_welcome_or_a_refusal(store_url):
    loop = asyncio.new_event_loop()
    gateway = running_gateway(fuzz_config(store_url, limits={"widget_connects_per_minute": 1_000_000}))
    gw = run(loop, gateway.__aenter__())

    async def first_answer(raw: Raw) -> dict:
        async with websockets.connect(f"{gw.ws}/ws/widget", origin=gw.http) as ws:
            await ws.send(raw.data)
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(raw=hello_frames)
    def check(raw: Raw) -> None:
        frame = parsed(raw)
        answer = run(loop, first_answer(raw))
        if frame is not None and frame.get("type") == "hello" and not hello_valid(frame):
            assert (answer["type"], answer["code"]) == ("error", "bad_hello"), (raw, answer)  # nothing read
        elif frame is not None and frame.get("type") == "hello":
            assert answer["type"] == "welcome", (raw, answer)
            token = frame.get("token")
            if isinstance(token, str) and re.fullmatch(r"[A-Za-z0-9_-]{32,64}", token):
                assert answer["token"] == token
            else:
                assert re.fullmatch(r"[A-Za-z0-9_-]{32,64}", answer["token"]), answer  # a fresh one
        else:
            assert (answer["type"], answer["code"]) == ("error", "hello_expected"), (raw, answer)

    try:
        check()
    finally:
        run(loop, gateway.__aexit__(None, None, None))
        close_loop(loop)


@pytest.mark.parametrize("client_id", ["a" * 64 + "\n", "ok\n"], ids=["65-chars", "short"])
async def test_a_client_id_with_a_trailing_newline_is_refused(client_id):
    """The protocol's client_id is at most 64 characters of [A-Za-z0-9_.:-]; a regex ending in `$`
    (which also matches before a final newline) must not let "…\n" through."""
    async with running_gateway(make_config()) as gw:
        teen = await Widget.connect(gw.ws)
        await teen.send({"type": "message", "client_id": client_id, "text": "salut"})
        frames = []
        async with asyncio.timeout(5):
            while not any(f["type"] in ("ack", "error") for f in frames):
                frames.append(json.loads(await teen.ws.recv()))
        answer = next(f for f in frames if f["type"] in ("ack", "error"))
        assert (answer["type"], answer.get("code")) == ("error", "bad_client_id"), answer
        assert await teen_lines(gw.helpline) == []
        await teen.close()


async def test_a_token_with_a_trailing_newline_is_replaced_by_a_fresh_one():
    async with running_gateway(make_config()) as gw:
        teen = await Widget.connect(gw.ws, token="A" * 32 + "\n")
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,64}", teen.token), repr(teen.token)
        await teen.close()


# --- console ---------------------------------------------------------------------------------------

OWN, OTHER = "<own conversation>", "<colleague's conversation>"
CAMILLE, MALIK = "<camille's id>", "<malik's id>"
conversation_ids = st.one_of(st.sampled_from([OWN, OWN, OWN, OTHER, OTHER]), st.text(max_size=70), json_values)
counsellor_ids = st.one_of(st.sampled_from([MALIK, CAMILLE]), st.text(max_size=40), json_values)
# Well-formed frames on either conversation: the authorisation checks, not only the parsing.
console_wellformed = st.fixed_dictionaries(
    {"type": st.sampled_from(["open", "reply", "reply", "reply", "typing", "close", "transfer", "reassign", "note"]),
     "conversation_id": st.sampled_from([OWN, OTHER]), "client_id": st.from_regex(CLIENT_ID, fullmatch=True),
     "text": st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(["Je suis là.", "Tu peux m'en dire plus ?"])),
     "active": st.booleans()},
    optional={"to_counsellor": st.sampled_from([MALIK, CAMILLE]), "to_skill": st.just("juriste"),
              "note": st.text(max_size=30)},
)
console_frames = st.one_of(
    console_wellformed,
    st.text(max_size=120).map(Raw),
    json_values.map(as_raw),
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["open", "reply", "reply", "reply", "typing", "close", "presence", "team",
                                            "transfer", "reassign", "init", "Reply", "resume", "note",
                                            "open_earlier", "link_earlier", "care_offer", "care_pause"]), json_values)},
        optional={"conversation_id": conversation_ids, "client_id": client_ids, "text": texts,
                  "active": json_values, "presence": st.one_of(st.sampled_from(["available", "paused", "offline"]),
                                                               json_values),
                  "to_counsellor": counsellor_ids, "to_skill": st.one_of(st.sampled_from(["juriste", " Juriste"]),
                                                                         json_values),
                  "note": texts, "earlier_id": conversation_ids,
                  "code": st.one_of(st.sampled_from(["7K4-2QX", "abc", ""]), json_values),
                  "conversations": st.one_of(json_values, st.dictionaries(
                      st.one_of(st.sampled_from([OWN, OTHER]), st.text(max_size=70)),
                      st.one_of(st.integers(-2, 2**64), json_values), max_size=3))},
    ),
)
CONSOLE_ANSWERS = {"error", "ack", "history", "presence", "team", "transferred", "reassigned", "conversation",
                   "message", "typing", "resumed", "queue", "noted",
                   "earlier_history", "linked", "care_offer", "care_pause"}  # queue: counts only, every console


async def conversation_picture(helpline, conversation_id: str) -> tuple:
    conversation = await helpline.store.get_conversation(conversation_id)
    messages = await helpline.store.messages(conversation_id)
    return (conversation.state, conversation.counsellor_id, conversation.queued_at, conversation.required_skill,
            [(m.seq, m.author, m.text) for m in messages])


async def everything(helpline) -> tuple:
    """The whole store as far as console frames can change it."""
    conversations = [await conversation_picture(helpline, c.id) for c in await helpline.store.conversations_since(0)]
    presences = sorted((c.id, c.presence) for c in await helpline.store.counsellors())
    queue = [e.conversation_id for e in await helpline.store.queue()]
    return conversations, presences, queue


def test_console_frames_from_a_counsellor_get_errors_or_answers_and_bad_ones_change_nothing(store_url):
    loop = asyncio.new_event_loop()
    # Each conversation Camille closes or hands over is replaced by a new teen: many connections
    # and many new conversations from one address, on a clock that does not move.
    gateway = running_gateway(fuzz_config(store_url, limits={"widget_connects_per_minute": 1_000_000,
                                                             "new_conversations_per_minute": 100_000}))
    gw = run(loop, gateway.__aenter__())
    setup = run(loop, _console_setup(gw))
    camille, malik, other_id = setup
    ids = {CAMILLE: camille.init["me"]["id"], MALIK: malik.init["me"]["id"]}
    exchange = Exchange(camille)
    other_before = run(loop, conversation_picture(gw.helpline, other_id))
    outcomes: set[str] = set()

    async def own_conversation() -> str:
        """Camille's assigned conversation; a new teen if a frame closed or handed hers over."""
        mine = [c for c in await gw.helpline.store.conversations_of(ids[CAMILLE])
                if c.state is ConversationState.ASSIGNED]
        if mine:
            return mine[0].id
        await camille.send({"type": "presence", "presence": "available"})
        await camille.next("presence", where=lambda f: f["presence"] == "available")
        await gw.helpline.dispatch_once()
        mine = [c for c in await gw.helpline.store.conversations_of(ids[CAMILLE])
                if c.state is ConversationState.ASSIGNED]
        if mine:
            return mine[0].id
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation = await camille.assigned()
        await teen.close()
        return conversation["id"]

    def substitute(frame, own: str):
        names = {OWN: own, OTHER: other_id, **ids}

        def named(value):  # a placeholder as a value, or as a key of `resume.conversations`
            if isinstance(value, dict):
                return {names.get(k, k): v for k, v in value.items()}
            return names.get(value, value) if isinstance(value, str) else value

        if isinstance(frame, dict):
            return {k: named(v) for k, v in frame.items()}
        return frame

    # One of each outcome the end of the test requires, so reaching them does not depend on luck.
    @FUZZ_SETTINGS
    @given(frame=console_frames)
    @example(frame=Raw("[1, 2]"))
    @example(frame={"type": "shout"})
    @example(frame={"type": "open", "conversation_id": OTHER})
    @example(frame={"type": "reassign", "conversation_id": OTHER, "to_counsellor": CAMILLE})
    @example(frame={"type": "open", "conversation_id": OWN})
    @example(frame={"type": "reply", "conversation_id": OWN, "client_id": "fuzz-example-1", "text": "Je suis là."})
    def check(frame) -> None:
        own = run(loop, own_conversation())
        run(loop, gw.helpline.dispatch_once())  # nothing left for the dispatcher to do in the middle
        raw = frame if isinstance(frame, Raw) else as_raw(substitute(frame, own))
        assume(len(raw.data.encode()) <= MAX_FRAME_BYTES)
        sent = parsed(raw)
        before = run(loop, everything(gw.helpline))
        answers = run(loop, exchange(raw))
        after = run(loop, everything(gw.helpline))
        errors = [a for a in answers if a["type"] == "error"]
        assert {a["type"] for a in answers} <= CONSOLE_ANSWERS, (raw, answers)  # no supervision for her
        assert not any(a["type"] == "message" and a["conversation_id"] == other_id for a in answers), answers
        for error in errors:
            assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
            for key in ("client_id", "conversation_id"):
                if isinstance((sent or {}).get(key), str):
                    assert error[key] == sent[key][:64], (raw, error)
        if errors:
            outcomes.add(errors[0]["code"])
            assert len(errors) == 1 and after == before, (raw, answers)  # a refused frame changed nothing
        else:
            outcomes.add(f"done:{sent.get('type') if sent else None}")
            assert sent is not None and sent.get("type") in ("open", "reply", "typing", "close", "presence",
                                                              "team", "transfer", "resume", "note",
                                                              "open_earlier", "link_earlier", "care_offer",
                                                              "care_pause"), (raw, answers)
        acks = [a for a in answers if a["type"] == "ack"]
        if acks and acks[0]["message"] is not None:
            assert sent["type"] == "reply" and sent["conversation_id"] == own
            assert acks[0]["message"]["text"] == clean(sent["text"])
        # Whatever Camille sends, Malik's conversation is Malik's, untouched.
        assert run(loop, conversation_picture(gw.helpline, other_id)) == other_before, raw

    try:
        check()
        own = run(loop, own_conversation())
        assert run(loop, camille.reply(own, "Je suis là."))["message"]["text"] == "Je suis là."
        # The fuzz reached past the parser: refusals of each kind and real work done.
        assert {"bad_frame", "unknown_type", "not_yours", "forbidden", "done:reply", "done:open"} <= outcomes, outcomes
    finally:
        for client in (camille, malik):
            run(loop, client.close())
        run(loop, gateway.__aexit__(None, None, None))
        close_loop(loop)


async def _console_setup(gw) -> tuple[Console, Console, str]:
    """Malik has one conversation (the colleague's) and pauses; Camille is on duty for the fuzz."""
    malik = await gw.on_duty("malik", "Malik")
    teen = await Widget.connect(gw.ws)
    await teen.say("c'est la conversation de Malik")
    other = await malik.assigned()
    await teen.close()
    await malik.presence("paused")
    camille = await gw.on_duty("camille", "Camille")
    return camille, malik, other["id"]


# --- config ----------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 100_000), st.floats(allow_nan=False),
                    st.text(max_size=20), st.dates(), st.datetimes(),
                    st.sampled_from(["09:00-20:00", "22:00-02:00", "24:00-01:00", "9h-18h", "Europe/Paris",
                                     "Mars/Olympus", "../etc/passwd", "closed", "open", "2026-12-24", "2026-02-30",
                                     "memory://", "redis://127.0.0.1:1/0", "https://www.3018.fr", "*",
                                     "https://graph.example", "v25.0", "{position}", "{", "{nope}", "kms",
                                     "suicid*", "a*b"]))
# Keys YAML can produce besides strings: numbers, booleans (yes/no/on/off), null, dates.
odd_keys = st.one_of(st.integers(-3, 3), st.booleans(), st.none(), st.dates())
section_keys = st.one_of(st.sampled_from(sorted({
    "url", "prefix", "max_conversations_per_counsellor", "skill_wait_seconds", "abandon_after_minutes",
    "widget_leave_seconds", "position_update_seconds", "check_after_minutes", "close_after_minutes",
    "enabled", "spellings", "rules", "name", "label", "priority", "skill", "phrases", "except",
    "widget_messages_per_minute", "widget_sockets_per_address", "widget_connects_per_minute", "max_message_chars",
    "dedupe_ttl_seconds", "disconnect_grace_seconds", "session_hours", "key_env", "graph_api_url",
    "graph_api_version", "allowed_types", "days", "sweep_seconds", "tls", "trust_proxy", "widget_origins",
    "console_origins", "monday", "sunday", "date", "from", "to", "message", *MESSAGE_FIELDS})),
    st.text(max_size=10), odd_keys)
yamlish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(section_keys, inner, max_size=5),
    max_leaves=20,
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """`good` four times in five: deep enough into the parser, yet every check is tried."""
    return st.integers(0, 4).flatmap(lambda n: bad if n == 0 else good)


# Sections shaped like the real ones, so the fuzz gets past the first type check.
day_names = st.one_of(st.sampled_from(["monday", "Tuesday ", "wednesday", "thursday", "friday", "saturday",
                                       "sunday", "lundi"]), odd_keys)
slots = mostly(st.from_regex(r"[0-2]?[0-9]:[0-6][0-9] ?- ?[0-2]?[0-9]:[0-6][0-9]", fullmatch=True), scalars)
date_like = st.one_of(st.dates(), st.datetimes(), st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True), scalars)
words = st.text(alphabet=st.sampled_from("abcdeéèkms*' -.!"), max_size=20)
rules = st.fixed_dictionaries(
    {"name": st.one_of(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), scalars), "label": st.one_of(words, scalars),
     "priority": st.one_of(st.integers(-1, 11), scalars), "phrases": st.one_of(st.lists(words, max_size=4), scalars)},
    optional={"skill": st.one_of(words, scalars), "except": st.one_of(st.lists(words, max_size=3), scalars),
              "colour": scalars})
sections = st.fixed_dictionaries({}, optional={
    "timezone": mostly(st.sampled_from(["Europe/Paris", "UTC", "America/Cayenne", "Indian/Reunion"]),
                       st.one_of(st.sampled_from(["Europe", "", "Europe/Paris\x00", "../../etc/passwd"]), scalars)),
    "opening_hours": mostly(st.dictionaries(day_names, mostly(st.lists(slots, max_size=3), scalars), max_size=4),
                            scalars),
    "closures": mostly(st.lists(st.dictionaries(st.one_of(st.sampled_from(["date", "from", "to", "message"]),
                                                             odd_keys), st.one_of(date_like, words), max_size=3),
                                   max_size=3), scalars),
    "public_holidays": mostly(st.sampled_from(["closed", "open", " Open "]), scalars),
    "last_admission_minutes": mostly(st.integers(-1, 241), scalars),
    "triage": mostly(st.fixed_dictionaries({}, optional={
        "enabled": scalars, "spellings": st.one_of(st.dictionaries(st.one_of(words, odd_keys), st.one_of(words, scalars),
                                                                   max_size=3), scalars),
        "rules": mostly(st.lists(rules, max_size=3), scalars)}), scalars),
    "messages": mostly(st.dictionaries(st.one_of(st.sampled_from(sorted(MESSAGE_FIELDS)), odd_keys),
                                          st.one_of(st.text(alphabet=st.sampled_from("ab {}:!r0.[]positwa"),
                                                            max_size=20), scalars), max_size=3), scalars),
    "limits": mostly(st.dictionaries(section_keys, mostly(st.integers(-5, 2_000_000), scalars), max_size=4),
                        scalars),
    "http": mostly(st.fixed_dictionaries({}, optional={
        "tls": scalars, "trust_proxy": scalars,
        "widget_origins": st.one_of(st.lists(st.one_of(st.sampled_from(
            ["https://www.3018.fr", "http://[::1]:8080", "https://a.b/c", "*", "null", "https://xn--3018-6qa.fr",
             "HTTPS://WWW.3018.FR:443/", "https://999.1.1.1:99999", "https://[zz::1]"]), scalars), max_size=3),
            scalars)}), scalars),
    "store": st.one_of(st.dictionaries(section_keys, scalars, max_size=3), scalars),
})
config_documents = st.one_of(
    sections,
    st.dictionaries(st.sampled_from(sorted(TOP_LEVEL_KEYS)), yamlish, max_size=6),
    st.dictionaries(st.one_of(st.sampled_from(sorted(TOP_LEVEL_KEYS)), st.text(max_size=10), odd_keys), yamlish,
                    max_size=4),
    yamlish,
)


@settings(max_examples=1000, deadline=None, database=None)
@given(doc=config_documents)
def test_parse_config_raises_only_config_error(doc):
    try:
        parse_config(doc)
    except ConfigError:
        pass


@pytest.mark.parametrize("doc", [
    {True: "`on:` read as a key", "ouverture": "a typo"},  # YAML 1.1 reads on/yes/no keys as booleans
    {2026: "a year as a key", "fermetures": []},
    {"http": {"tls": True, 443: "port", "proxy": "x"}},
], ids=["top-level", "top-level-int", "http"])
def test_two_unknown_keys_of_different_types_are_a_config_error(doc):
    """Found by the fuzz above: naming the first unknown key sorted str against bool/int."""
    with pytest.raises(ConfigError):
        parse_config(doc)


message_texts = st.text(alphabet=st.sampled_from("ab {}:!r0sd.>[]"), max_size=20).map(lambda t: "Bonjour " + t)
PLACEHOLDER_VALUES = {"position": "n° 2", "wait": "environ 5 minutes", "next_opening": "demain à 9h",
                      "counsellor": "Camille"}


@settings(max_examples=300, deadline=None, database=None)
@given(name=st.sampled_from(sorted(MESSAGE_FIELDS)), text=message_texts)
@example(name="queued", text="Tu es {position:d} dans la file. {wait}")
@example(name="assigned", text="{counsellor!x} est là pour toi.")
def test_an_accepted_message_can_be_written_out(name, text):
    """What parse_config accepts, the gateway must be able to send: it fills the placeholders
    with texts (position "n° 2", the counsellor's name…) when a teen is waiting."""
    try:
        config = parse_config({"messages": {name: text}})
    except ConfigError:
        return
    values = {field: PLACEHOLDER_VALUES[field] for field in MESSAGE_FIELDS[name]}
    config.messages[name].format(**values)
