"""Casework in the console (issue #12), in a real Chromium against a real gateway: closing opens
the qualification form, an unqualified conversation stays "À qualifier" (also after a reload)
until the form is sent; a refused field is shown beside it and nothing is lost when the network
fails; `/3114` inserts the orientation for editing and ticks its outcome; an internal note
reaches the console as a note and never the teen."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.axe import axe_violations, describe
from tests.browser import chromium, console_login
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway



@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def console_page(browser, base: str, username: str, **context) -> Page:
    return await console_login(browser, base, username, **context)


async def teen_with_counsellor(gw, page: Page, text: str = "on m'insulte sur snap") -> tuple[Widget, str]:
    """A widget teen writes; the conversation reaches the console and is opened there."""
    teen = await Widget.connect(gw.ws)
    await teen.say(text)
    item = page.locator("#conv-active .conv-item").first
    await expect(item).to_contain_text("Jeune ")
    conversation_id = await item.get_attribute("data-id")
    await item.locator(".conv-open").click()
    await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text(text)
    return teen, conversation_id


async def close_open_conversation(page: Page) -> None:
    await page.click("#close-conversation")
    await page.click("#close-confirm")
    await expect(page.locator("#conv-closed-note")).to_be_visible()


def tick(page: Page, field: str, value: str):
    return page.locator(f'#qualify-fields input[name="qualify-{field}"][value="{value}"]')


async def fill_form(page: Page) -> None:
    for field, value in (("caller", "jeune"), ("age_band", "13_14"), ("categories", "cyberharcelement"),
                         ("platforms", "snapchat"), ("outcomes", "ecoute_conseil")):
        await tick(page, field, value).check()
    await page.fill("#qualify-summary", "Insultes répétées dans un groupe Snapchat de la classe.")


async def test_close_opens_the_form_and_qualifying_moves_it_to_today_as_qualified(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)

        await close_open_conversation(page)
        form = page.locator("#qualify-form")
        await expect(form).to_be_visible()
        await expect(page.locator("#qualify-title")).to_be_focused()
        todo = page.locator("#conv-qualify .conv-item")
        await expect(todo).to_have_count(1)
        await expect(page.locator("#conv-qualify-title")).to_be_visible()
        await expect(todo.locator(".conv-remove")).to_have_count(0)  # required: it cannot be put away
        await expect(todo).to_contain_text("à qualifier")
        await tick(page, "caller", "parent").check()  # kept in the tab until sent

        await page.reload()  # the server's `to_qualify` keeps it in the list
        await expect(todo).to_have_count(1)
        await todo.locator(".conv-open").click()
        await expect(form).to_be_visible()
        await expect(tick(page, "caller", "parent")).to_be_checked()
        await fill_form(page)
        await page.click("#qualify-send")

        await expect(todo).to_have_count(0)
        await expect(page.locator("#conv-qualify-title")).to_be_hidden()
        await expect(form).to_be_hidden()
        done = page.locator(f'#conv-closed .conv-item[data-id="{conversation_id}"]')
        await expect(done).to_have_attribute("data-qualified", "yes")
        await expect(done).to_contain_text("qualifiée")
        stored = await gw.helpline.store.qualification_of(conversation_id)
        assert stored is not None
        assert (stored.caller, stored.age_band, stored.categories, stored.platforms, stored.outcomes) == (
            "jeune", "13_14", ("cyberharcelement",), ("snapchat",), ("ecoute_conseil",))
        assert stored.summary == "Insultes répétées dans un groupe Snapchat de la classe."

        await page.reload()  # qualified: under "Terminées aujourd'hui", never "À qualifier" again
        await expect(done).to_have_attribute("data-qualified", "yes")
        await expect(todo).to_have_count(0)
        await teen.close()


async def test_a_refused_field_is_shown_beside_it_and_a_network_failure_loses_nothing(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)
        await close_open_conversation(page)
        await expect(page.locator("#qualify-form")).to_be_visible()
        await fill_form(page)
        # A value the page offered but the server no longer knows (e.g. a list changed since).
        await tick(page, "categories", "arnaque").evaluate("(input) => { input.value = 'inconnue'; input.checked = true; }")
        await page.click("#qualify-send")

        error = page.locator('.qualify-group[data-field="categories"] .field-error')
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("inconnue")
        await expect(page.locator('.qualify-group[data-field="categories"]')).to_have_attribute("aria-invalid", "true")
        await expect(page.locator('#qualify-fields input[name="qualify-categories"]').first).to_be_focused()
        assert await gw.helpline.store.qualification_of(conversation_id) is None

        await tick(page, "categories", "inconnue").uncheck()
        await page.route("**/api/conversations/*/qualification", lambda route: route.abort())
        await page.click("#qualify-send")
        await expect(page.locator("#qualify-error")).to_contain_text("Pas de connexion")
        await expect(tick(page, "platforms", "snapchat")).to_be_checked()  # nothing lost
        await page.unroute("**/api/conversations/*/qualification")
        await page.click("#qualify-send")
        await expect(page.locator("#conv-qualify .conv-item")).to_have_count(0)
        assert (await gw.helpline.store.qualification_of(conversation_id)).categories == ("cyberharcelement",)
        await teen.close()


async def test_slash_3114_inserts_the_orientation_for_editing_and_ticks_its_outcome(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page, "j'ai plus envie de rien")
        orientation = next(o for o in gw.helpline.config.casework.orientations if o.command == "3114")

        await page.locator("#reply-input").press_sequentially("/3114")
        await expect(page.locator("#ready-panel")).to_be_visible()
        await expect(page.locator("#ready-list .ready-item").first).to_contain_text("/3114")
        await page.keyboard.press("Enter")
        await expect(page.locator("#ready-panel")).to_be_hidden()
        await expect(page.locator("#reply-input")).to_have_value(orientation.text)
        await expect(page.locator("#reply-input")).to_be_focused()
        await expect(page.locator("#ready-status")).to_contain_text("cochée")
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "counsellor")  # never sent by itself

        await page.click("#qualify-open")
        await expect(tick(page, "outcomes", orientation.outcome)).to_be_checked()
        await page.click("#qualify-cancel")

        # A ready answer from the button, found by search: {conseiller} becomes my name.
        await page.fill("#reply-input", "")
        await page.click("#ready-open")
        await expect(page.locator("#ready-search")).to_be_focused()
        await page.keyboard.type("accueil")
        await page.keyboard.press("Enter")
        await expect(page.locator("#reply-input")).to_have_value(
            "Bonjour, ici Camille, écoutant·e au 3018. Je suis là pour t'écouter. "
            "Tu peux me raconter ce qui se passe, à ton rythme.")
        # Échap gives back what was typed: "/" stays text when it was not a search.
        await page.fill("#reply-input", "")
        await page.locator("#reply-input").press_sequentially("/ok")
        await page.keyboard.press("Escape")
        await expect(page.locator("#reply-input")).to_have_value("/ok")
        await teen.close()


async def test_a_note_reaches_the_console_as_a_note_and_never_the_teen(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)
        note = "Le jeune parle d'un adulte du club : à signaler au 119 si ça se confirme."
        await page.click("#note-open")
        await expect(page.locator("#note-input")).to_be_focused()
        await page.fill("#note-input", note)
        await page.click("#note-send")
        shown = page.locator('#messages .msg[data-from="note"]')
        await expect(shown).to_contain_text(note)
        await expect(shown).to_contain_text("non envoyée au jeune")
        await expect(page.locator("#note-form")).to_be_hidden()
        await teen.barrier()
        teen.assert_none("message", where=lambda f: note in str(f))

        await close_open_conversation(page)  # after the close too, e.g. what was agreed for a follow-up
        await page.click("#note-open")
        await page.fill("#note-input", "Rappel : proposer le 119 s'il réécrit.")
        await page.click("#note-send")
        await expect(shown.last).to_contain_text("proposer le 119")
        assert [m.text for m in await gw.helpline.store.messages(conversation_id) if m.author.value == "note"] == [
            note, "Rappel : proposer le 119 s'il réécrit."]
        await teen.close()


@pytest.mark.parametrize("size", [{"viewport": {"width": 1280, "height": 800}},
                                  {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2}],
                         ids=["1280x800", "200%"])
async def test_the_form_the_picker_and_the_note_box_have_no_serious_accessibility_violation(browser, size):
    name = "1280" if size["viewport"]["width"] == 1280 else "200pc"
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille", **size)
        teen, _ = await teen_with_counsellor(gw, page)
        await page.locator("#reply-input").press_sequentially("/")
        await expect(page.locator("#ready-panel")).to_be_visible()
        violations = await axe_violations(page)
        assert not violations, describe(violations, f"the ready-answer list ({name})")
        await page.keyboard.press("Escape")

        await page.click("#note-open")
        violations = await axe_violations(page)
        assert not violations, describe(violations, f"the note box ({name})")
        await page.click("#note-cancel")

        await close_open_conversation(page)
        await expect(page.locator("#qualify-form")).to_be_visible()
        await page.click("#qualify-send")  # nothing ticked: each required field says so
        await expect(page.locator('.qualify-group[data-field="caller"] .field-error')).to_be_visible()
        violations = await axe_violations(page)
        assert not violations, describe(violations, f"the qualification form with errors ({name})")
        await teen.close()


async def test_one_click_close_of_a_teen_who_left_opens_the_form_in_the_pane(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        stays, stays_id = await teen_with_counsellor(gw, page, "bonjour")
        leaves = await Widget.connect(gw.ws)
        await leaves.say("on se moque de moi")
        await expect(page.locator("#conv-active .conv-item")).to_have_count(2)
        gone = page.locator(f'#conv-active .conv-item:not([data-id="{stays_id}"])')
        gone_id = await gone.get_attribute("data-id")
        armed = gw.clock.sleepers
        await leaves.close()  # the tab is closed; the open pane shows the other teen
        await gw.clock.wait_for_sleepers(armed + 1)
        gw.clock.advance(gw.helpline.config.widget_leave_seconds + 1)

        await gone.locator(".conv-end").click()
        await expect(page.locator(f'#conv-qualify .conv-item[data-id="{gone_id}"]')).to_have_count(1)
        await expect(page.locator("#qualify-form")).to_be_visible()  # in the pane, for that one
        await expect(page.locator("#qualify-title")).to_contain_text(await page.locator("#conv-alias").text_content())
        await expect(page.locator(f'#conv-qualify .conv-item[data-id="{gone_id}"]')).to_have_class(re.compile(r"\bis-open\b"))
        await stays.close()


async def test_a_conversation_qualified_before_its_close_goes_straight_to_today(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await console_page(browser, gw.http, "camille")
        teen, conversation_id = await teen_with_counsellor(gw, page)
        await page.click("#qualify-open")
        await expect(page.locator("#qualify-form")).to_be_visible()
        await fill_form(page)
        await page.click("#qualify-send")
        await expect(page.locator("#qualify-form")).to_be_hidden()
        await expect(page.locator("#qualify-open")).to_have_text("Modifier la qualification")
        await expect(page.locator("#qualify-open")).to_be_focused()

        await close_open_conversation(page)
        await expect(page.locator("#qualify-form")).to_be_hidden()  # nothing more to ask
        await expect(page.locator("#conv-qualify .conv-item")).to_have_count(0)
        await expect(page.locator(f'#conv-closed .conv-item[data-id="{conversation_id}"]')).to_have_attribute(
            "data-qualified", "yes")
        stored = await gw.helpline.store.qualification_of(conversation_id)
        assert stored is not None and stored.closed_at is not None  # the record got the close time
        await teen.close()


# --- the console socket's side (both stores): the `note` frame and `init`'s casework ----------------

@pytest.fixture(params=["memory", "redis"])
def store_config(request: pytest.FixtureRequest):
    store_url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return make_config(store_url, prefix=f"t{uuid.uuid4().hex[:10]}")


async def test_note_frames_are_checked_whole_and_stored_only_for_the_holder(store_config):
    async with running_gateway(store_config) as gw:
        camille = await gw.on_duty("camille", "Camille")
        malik = await gw.on_duty("malik", "Malik", presence="paused")
        teen = await Widget.connect(gw.ws)
        await teen.say("on a piraté mon compte")
        conversation = await camille.assigned()
        conversation_id = conversation["id"]
        before = await gw.helpline.store.messages(conversation_id)

        for text, code in (("", "bad_note"), ("   ", "bad_note"), ("x" * 1001, "bad_note"), (42, "bad_note")):
            await camille.send({"type": "note", "conversation_id": conversation_id, "text": text})
            error = await camille.next("error")
            assert (error["code"], error["conversation_id"]) == (code, conversation_id), error
        await malik.send({"type": "note", "conversation_id": conversation_id, "text": "je passe par là"})
        assert (await malik.next("error"))["code"] == "not_yours"
        assert await gw.helpline.store.messages(conversation_id) == before  # nothing stored

        await camille.send({"type": "note", "conversation_id": conversation_id, "text": "x" * 1000})
        noted = await camille.next("noted")
        line = await camille.message(conversation_id, lambda m: m["from"] == "note")
        assert noted == {"type": "noted", "conversation_id": conversation_id, "seq": line["seq"]}
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"].get("text") == "x" * 1000)
        for client in (teen, camille, malik):
            await client.close()


async def test_init_names_the_conversations_to_qualify_and_the_ready_texts(store_config):
    async with running_gateway(store_config) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation_id = (await camille.assigned())["id"]
        assert camille.init["to_qualify"] == []
        assert {o["command"] for o in camille.init["casework"]["orientations"]} >= {"119", "pharos", "3114"}
        assert all({"key", "label", "text"} == set(a) for a in camille.init["casework"]["ready_answers"])
        await camille.send({"type": "close", "conversation_id": conversation_id})
        await camille.next("conversation", where=lambda f: f["conversation"]["state"] == "closed")
        await camille.close()

        again = await Console.login(gw.http, "camille", PASSWORD)
        assert [c["id"] for c in again.init["to_qualify"]] == [conversation_id]
        assert again.init["to_qualify"][0]["state"] == "closed"
        await again.close()
        await teen.close()
