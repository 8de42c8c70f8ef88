"""A returning teen is recognised (issue #12, item 6): earlier contacts, follow-up codes, links.

Store contract on both stores; then real gateways on loopback: a Messenger teen (the Meta
stand-in plays Meta) whose qualified first conversation shows when they write again, and a
widget teen who carries a follow-up code from one tab to the next.
"""

from __future__ import annotations

import re
import uuid

import pytest

from gateway.core import casework
from gateway.core.ports import MessageId, NewMessage, Store, content_ttl_seconds
from gateway.core.retention import RetentionSweeper
from gateway.core.returning import LINK_TRIES_PER_HOUR, new_code, normal_code
from gateway.domain.clock import ManualClock
from gateway.domain.model import Author, Channel, CloseReason, Conversation, ConversationState
from tests.clients import Console, Widget
from tests.conversations import PSID
from tests.harness import make_config, running_gateway

DAY = 24 * 3600
T0 = 1_750_000_000.0
CODE_SHAPE = re.compile(r"^[2-9A-HJKMNP-Z]{3}-[2-9A-HJKMNP-Z]{3}$")


# --- the codes themselves -------------------------------------------------------------------------

def test_a_follow_up_code_is_short_random_and_without_look_alike_characters() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200 and all(CODE_SHAPE.fullmatch(c) for c in codes)
    assert not any(ch in c for c in codes for ch in "01ILO")


def test_a_code_typed_loosely_is_read_and_a_code_that_cannot_be_one_is_not() -> None:
    assert normal_code(" 7k4-2qx ") == normal_code("7K42QX") == "7K42QX"
    for typed in ("7K4-2Q", "7K4-2QXX", "0K4-2QX", "7I4-2QX", "", "é" * 6, 742, None):
        assert normal_code(typed) is None


# --- the store contract (both stores) --------------------------------------------------------------

def conversation_of(sender_key: str, opened_at: float, channel: Channel = Channel.MESSENGER) -> Conversation:
    return Conversation(id=uuid.uuid4().hex, channel=channel, sender_key=sender_key, alias="Jeune 1234",
                        state=ConversationState.QUEUED, opened_at=opened_at, queued_at=opened_at)


async def stored_conversation(store: Store, sender_key: str, opened_at: float, close: bool = True) -> Conversation:
    """Created the intake's way (one store step with its first line), then closed."""
    new = conversation_of(sender_key, opened_at)
    stored = await store.store_inbound(MessageId("messenger", uuid.uuid4().hex, 60), sender_key,
                                       NewMessage(Author.TEEN, "bonjour", opened_at), new)
    assert stored.created
    if close:
        return await store.close_conversation(new.id, CloseReason.BY_COUNSELLOR, opened_at + 600)
    return stored.conversation


async def test_a_senders_conversations_are_listed_newest_first_and_only_theirs(store: Store) -> None:
    first = await stored_conversation(store, "sender-a", T0)
    second = await stored_conversation(store, "sender-a", T0 + DAY)
    await stored_conversation(store, "sender-b", T0 + 2 * DAY)
    now_open = await stored_conversation(store, "sender-a", T0 + 3 * DAY, close=False)
    listed = await store.conversations_of_sender("sender-a", 10)
    assert [c.id for c in listed] == [now_open.id, second.id, first.id]
    assert [c.id for c in await store.conversations_of_sender("sender-a", 2)] == [now_open.id, second.id]
    assert await store.conversations_of_sender("nobody", 10) == []


async def test_an_erased_conversation_leaves_its_senders_index(store: Store) -> None:
    first = await stored_conversation(store, "sender-a", T0)
    second = await stored_conversation(store, "sender-a", T0 + DAY)
    assert await store.erase_conversation(first.id, T0 + 40 * DAY)
    assert [c.id for c in await store.conversations_of_sender("sender-a", 10)] == [second.id]
    assert await store.conversations_of_sender("erased", 10) == []


async def test_a_follow_up_code_leads_to_its_sender_until_replaced(store: Store) -> None:
    await stored_conversation(store, "sender-a", T0)
    await store.save_follow_up_code("hash-1", "sender-a", 3600)
    assert await store.sender_of_follow_up_code("hash-1") == "sender-a"
    await store.save_follow_up_code("hash-2", "sender-a", 3600)  # one code per teen
    assert await store.sender_of_follow_up_code("hash-1") is None
    assert await store.sender_of_follow_up_code("hash-2") == "sender-a"
    assert await store.sender_of_follow_up_code("unknown") is None


async def test_links_accumulate_and_go_with_the_senders_last_conversation(store: Store) -> None:
    only = await stored_conversation(store, "sender-new", T0)
    await store.save_follow_up_code("hash-new", "sender-new", 3600)
    await store.link_senders("sender-new", {"sender-old"}, 3600)
    await store.link_senders("sender-new", {"sender-older"}, 3600)
    assert await store.linked_senders("sender-new") == {"sender-old", "sender-older"}
    assert await store.linked_senders("sender-old") == set()
    assert await store.erase_conversation(only.id, T0 + 40 * DAY)
    assert await store.linked_senders("sender-new") == set()  # no pseudonym link after the retention
    assert await store.sender_of_follow_up_code("hash-new") is None


async def test_on_redis_every_returning_key_carries_a_ttl(make_store) -> None:
    store = await make_store("redis")
    await stored_conversation(store, "sender-a", T0)
    await store.save_follow_up_code("hash-a", "sender-a", 3600)
    await store.link_senders("sender-a", {"sender-z"}, 3600)
    keys = store._keys  # the layout documented in redis.py
    for key in (keys.sender_conversations("sender-a"), keys.sender_links("sender-a"), keys.sender_code("sender-a"),
                keys.follow_up("hash-a")):
        assert 0 < await store._r.ttl(key) <= content_ttl_seconds(30), key


# --- end to end: a Messenger teen comes back --------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url, standin):
    return make_config(store_url, prefix=f"r{uuid.uuid4().hex[:10]}", meta={"graph_api_url": standin.url})


QUALIFIED = {"caller": "jeune", "age_band": "13_14", "categories": ["sextorsion"], "platforms": ["instagram"],
             "outcomes": ["signalement_plateforme"]}


async def qualify(gw, counsellor_id: str, conversation_id: str, body: dict) -> None:
    """The counsellor qualifies the closed conversation (the casework use case the API calls)."""
    await casework.qualify(gw.helpline, counsellor_id, conversation_id, body)


async def close(console: Console, conversation_id: str) -> None:
    await console.send({"type": "close", "conversation_id": conversation_id})
    await console.next("conversation", where=lambda f: f["conversation"]["id"] == conversation_id
                       and f["conversation"]["state"] == "closed")


async def history(console: Console, conversation_id: str) -> dict:
    await console.send({"type": "open", "conversation_id": conversation_id})
    return await console.next("history", where=lambda f: f["conversation_id"] == conversation_id)


async def test_a_returning_messenger_teen_shows_their_qualified_earlier_contact(config, standin) -> None:
    async with running_gateway(config) as gw, await gw.on_duty("camille") as camille, \
            await gw.on_duty("lea", "Léa", presence="paused") as lea:
        await standin.send_messenger_text(gw.http, PSID, "il menace de publier mes photos")
        first_id = (await camille.assigned())["id"]
        assert (await history(camille, first_id))["earlier"] == {"count": 0, "contacts": []}
        await close(camille, first_id)
        await qualify(gw, camille.init["me"]["id"], first_id, QUALIFIED)

        gw.clock.advance(2 * DAY)
        await standin.send_messenger_text(gw.http, PSID, "c'est encore moi")
        second = await camille.assigned()
        earlier = (await history(camille, second["id"]))["earlier"]
        assert earlier["count"] == 1
        [contact] = earlier["contacts"]
        assert contact["id"] == first_id and contact["channel"] == "messenger" and contact["closed_at"]
        options = gw.helpline.config.casework  # the configured French labels, not the stored values
        assert contact["qualification"] == {"categories": [options.label("categories", "sextorsion")],
                                            "outcomes": [options.label("outcomes", "signalement_plateforme")],
                                            "platforms": [options.label("platforms", "instagram")]}
        assert contact["qualification"]["categories"][0].startswith("Sextorsion")

        await camille.send({"type": "open_earlier", "conversation_id": second["id"], "earlier_id": first_id})
        read = await camille.next("earlier_history")
        assert read["conversation_id"] == second["id"] and read["earlier_id"] == first_id
        assert "il menace de publier mes photos" in [m["text"] for m in read["messages"] if m["from"] == "teen"]

        # Whoever does not hold the teen's conversation now reads nothing of the earlier one.
        await lea.send({"type": "open_earlier", "conversation_id": second["id"], "earlier_id": first_id})
        refused = await lea.next("error")
        assert refused["code"] == "forbidden" and refused["conversation_id"] == second["id"]
        # Nor may the holder read a conversation that is not the same teen's.
        await camille.send({"type": "open_earlier", "conversation_id": second["id"], "earlier_id": uuid.uuid4().hex})
        assert (await camille.next("error"))["code"] == "forbidden"

        # After the retention, the earlier conversation is erased: the link between them is gone.
        sweeper = RetentionSweeper(gw.helpline.store, ManualClock(gw.clock.now() + 31 * DAY), 30)
        assert await sweeper.sweep_once() == 1
        assert (await history(camille, second["id"]))["earlier"] == {"count": 0, "contacts": []}
        await camille.send({"type": "open_earlier", "conversation_id": second["id"], "earlier_id": first_id})
        assert (await camille.next("error"))["code"] == "forbidden"


# --- end to end: a widget teen carries a code to a new tab -------------------------------------------

async def widget_chat_closed(gw, console: Console) -> tuple[Widget, str]:
    """A teen's widget conversation, answered and then closed by the counsellor."""
    teen = await Widget.connect(gw.ws)
    await teen.say("on a piraté mon compte")
    conversation = await console.assigned()
    await console.reply(conversation["id"], "On va t'aider.")
    await close(console, conversation["id"])
    await teen.state(where=lambda c: c["state"] == "closed")
    return teen, conversation["id"]


async def test_a_follow_up_code_links_a_new_tab_to_the_earlier_conversation(config) -> None:
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        newcomer = await Widget.connect(gw.ws)  # nothing ended yet: nothing to retrieve
        await newcomer.send({"type": "follow_up_code"})
        assert (await newcomer.next("error"))["code"] == "no_follow_up"
        await newcomer.close()

        teen, first_id = await widget_chat_closed(gw, console)
        await teen.send({"type": "follow_up_code"})
        code = (await teen.next("follow_up_code"))["code"]
        assert CODE_SHAPE.fullmatch(code)
        await teen.close()

        new_tab = await Widget.connect(gw.ws)  # a new tab is a stranger…
        await new_tab.say("re bonjour, c'est moi d'hier")
        second = await console.assigned()
        assert (await history(console, second["id"]))["earlier"]["count"] == 0

        await console.send({"type": "link_earlier", "conversation_id": second["id"], "code": "ABC-DEF"})
        wrong = await console.next("error", where=lambda f: f["code"] == "wrong_code")
        assert wrong["conversation_id"] == second["id"] and "Code inconnu" in wrong["message"]

        # …until the counsellor types the code the teen gives (loosely: lower case, no dash).
        await console.send({"type": "link_earlier", "conversation_id": second["id"],
                            "code": code.replace("-", " ").lower()})
        linked = await console.next("linked")
        assert linked["conversation_id"] == second["id"]
        assert linked["earlier"]["count"] == 1 and linked["earlier"]["contacts"][0]["id"] == first_id
        assert linked["earlier"]["contacts"][0]["qualification"] is None  # not qualified yet
        assert (await history(console, second["id"]))["earlier"]["contacts"][0]["id"] == first_id
        await console.send({"type": "open_earlier", "conversation_id": second["id"], "earlier_id": first_id})
        read = await console.next("earlier_history")
        assert [m["text"] for m in read["messages"] if m["from"] in ("teen", "counsellor")] == [
            "on a piraté mon compte", "On va t'aider."]
        await new_tab.close()


async def test_guessing_follow_up_codes_is_rate_limited_per_counsellor(config) -> None:
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        teen, _ = await widget_chat_closed(gw, console)
        await teen.send({"type": "follow_up_code"})
        code = (await teen.next("follow_up_code"))["code"]
        await teen.close()
        new_tab = await Widget.connect(gw.ws)
        await new_tab.say("me revoilà")
        second = await console.assigned()
        guesses = [new_code() for _ in range(LINK_TRIES_PER_HOUR)]
        for guess in guesses:
            await console.send({"type": "link_earlier", "conversation_id": second["id"], "code": guess})
            assert (await console.next("error"))["code"] == "wrong_code"
        # The right code now is refused too: the tries of the hour are spent.
        await console.send({"type": "link_earlier", "conversation_id": second["id"], "code": code})
        refused = await console.next("error")
        assert refused["code"] == "too_many_tries" and "une heure" in refused["message"]
        await console.barrier()
        console.assert_none("linked")
        await new_tab.close()


async def test_a_code_frame_of_the_wrong_shape_is_refused_before_any_lookup(config) -> None:
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        await console.send({"type": "link_earlier", "conversation_id": "abc", "code": 123456})
        assert (await console.next("error"))["code"] == "bad_code"
        await console.send({"type": "open_earlier", "conversation_id": "abc", "earlier_id": "x" * 65})
        assert (await console.next("error"))["code"] == "bad_conversation_id"
