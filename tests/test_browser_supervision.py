"""Queue operations in a real headless Chromium: the supervisor's page, transfers, internal notes.

The console page declares `script-src 'self'; style-src 'self'` (a meta tag, until the server
sends the header): an inline script, style or handler would be refused and reported by the
browser, and these tests fail on any such report.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from gateway.domain.model import Role
from tests.browser import chromium
from tests.clients import Console, Widget
from tests.harness import PASSWORD, make_config, running_gateway

CSP = "script-src 'self'; style-src 'self'"
SUICIDE_REASON = "Prioritaire — Idées suicidaires (« envie de mourir »)"
# Viewport and device scale: two desktop screens, and 200% zoom (640x400 CSS pixels at 2x).
SIZES = {"1280x800": ({"width": 1280, "height": 800}, 1), "1920x1080": ({"width": 1920, "height": 1080}, 1),
         "zoom200": ({"width": 640, "height": 400}, 2)}
HTML_PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>gras</b>'


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b


async def open_console(browser, base: str, username: str, presence: str | None = "available",
                       socket_route=None) -> Page:
    """A logged-in console page; `page.csp_errors` collects what the browser's CSP refused.
    `socket_route`, if given, handles the console's WebSocket (Playwright's route_web_socket)."""
    page = await (await browser.new_context()).new_page()
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    if socket_route:
        await page.route_web_socket("**/ws/console", socket_route)
    await page.goto(f"{base}/console")
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]')
    assert await csp.get_attribute("content") == CSP
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()
    if presence:
        await expect(page.locator("#presence")).to_be_enabled()
        await page.select_option("#presence", presence)
    return page


async def open_supervision(browser, base: str, username: str | None, size: str = "1280x800") -> Page:
    """The supervision page, logged in as `username` (None: not logged in); `page.sockets`
    lists the WebSockets it opened, `page.csp_errors` what the CSP refused, `page.js_errors`
    the script errors."""
    viewport, scale = SIZES[size]
    page = await (await browser.new_context(viewport=viewport, device_scale_factor=scale)).new_page()
    page.csp_errors, page.sockets, page.js_errors = [], [], []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("websocket", lambda ws: page.sockets.append(ws.url))
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    if username:
        answer = await page.request.post(f"{base}/api/console/login", data={"username": username, "password": PASSWORD},
                                         headers={"Origin": base})
        assert answer.ok, await answer.text()
    await page.goto(f"{base}/console/supervision")
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]')
    assert await csp.get_attribute("content") == CSP
    return page


async def alias_of(gw, conversation_id: str) -> str:
    return (await gw.helpline.store.get_conversation(conversation_id)).alias


async def queued_aliases(gw) -> list[str]:
    return [await alias_of(gw, entry.conversation_id) for entry in await gw.helpline.store.queue()]


async def test_supervisor_sees_the_queue_the_team_and_the_figures_and_reassigns(browser):
    async with running_gateway(make_config()) as gw:
        capacity = gw.helpline.config.max_conversations_per_counsellor
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        ines = await gw.on_duty("ines", "Inès", skills=frozenset({"psychologue"}), max_conversations=1)
        camille = await gw.on_duty("camille", "Camille", presence="paused")
        page = await open_supervision(browser, gw.http, "sam")

        first = await Widget.connect(gw.ws)
        await first.say("on a piraté mon compte insta")
        first_alias = (await ines.assigned())["alias"]  # Inès is now full
        gw.clock.advance(20)
        mocked = await Widget.connect(gw.ws)
        await mocked.say("des gens se moquent de moi sur snap")
        await mocked.state(lambda c: c["state"] == "queued")
        gw.clock.advance(20)
        danger = await Widget.connect(gw.ws)
        await danger.say("j'ai envie de mourir")
        await danger.state(lambda c: c["state"] == "queued" and c["position"] == 1)
        danger_alias, mocked_alias = await queued_aliases(gw)

        rows = page.locator("#sup-queue-rows tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text(danger_alias)
        await expect(rows.nth(0)).to_contain_text(SUICIDE_REASON)
        await expect(rows.nth(0)).to_contain_text("Compétence requise : psychologue")
        await expect(rows.nth(0)).to_have_class(re.compile(r"\bis-raised\b"))
        await expect(rows.nth(1)).to_contain_text(mocked_alias)
        await expect(rows.nth(1)).to_contain_text("Tchat web")
        # Waiting time from queued_at and the server's clock (the page's own clock is another day).
        wait = int((await rows.nth(1).locator(".sup-wait").inner_text()).removesuffix(" s"))
        assert 20 <= wait < 60

        team = page.locator("#sup-team-rows tr")
        ines_row, camille_row = team.filter(has_text="Inès"), team.filter(has_text="Camille")
        await expect(ines_row).to_contain_text("disponible")
        await expect(ines_row.locator(".sup-load-text")).to_have_text("1 / 1")
        await expect(ines_row).to_contain_text("psychologue")
        await expect(ines_row.locator(".sup-conv")).to_contain_text(first_alias)
        await expect(camille_row).to_contain_text("en pause")
        await expect(camille_row.locator(".sup-load-text")).to_have_text(f"0 / {capacity}")
        await expect(team.filter(has_text="Sam")).to_contain_text("hors ligne")

        figures = page.locator("#sup-figures")
        await expect(figures.locator('[data-figure="conversations"] dd')).to_contain_text("3")
        await expect(figures.locator('[data-figure="conversations"] dd')).to_contain_text("Tchat web : 3")
        await expect(figures.locator('[data-figure="waiting_now"] dd')).to_have_text("2")
        await expect(figures.locator('[data-figure="raised"] dd')).to_have_text("1")
        await expect(figures.locator('[data-figure="abandons"] dd')).to_have_text("0")

        # Camille comes back: the dispatcher gives her the ordinary teen; the one in danger
        # waits for the psychologist (on duty, full), so the supervisor steps in.
        await camille.presence("available")
        assert (await camille.assigned())["alias"] == mocked_alias
        await expect(rows).to_have_count(1)
        await expect(camille_row.locator(".sup-load-text")).to_have_text(f"1 / {capacity}")

        await rows.nth(0).get_by_role("button", name=re.compile("Réattribuer")).click()
        await expect(page.locator("#reassign-form")).to_be_visible()
        await expect(page.locator("#reassign-title")).to_contain_text(danger_alias)
        options = page.locator("#reassign-to option")
        await expect(options).to_have_count(1)  # Inès is full, Sam is offline
        await expect(options.first).to_contain_text("Camille")
        await page.select_option("#reassign-to", await options.first.get_attribute("value"))
        await page.click("#reassign-send")

        await expect(page.locator("#sup-notice")).to_have_text(f"{danger_alias} : réattribuée à Camille.")
        await expect(page.locator("#reassign-form")).to_be_hidden()
        got = await camille.assigned()
        assert got["alias"] == danger_alias and got["priority"] > 0
        await expect(rows).to_have_count(0)
        await expect(page.locator("#sup-queue-empty")).to_be_visible()
        await expect(camille_row.locator(".sup-load-text")).to_have_text(f"2 / {capacity}")
        await expect(camille_row.locator(".sup-conv")).to_have_count(2)
        await expect(camille_row.locator(".sup-conv").filter(has_text=danger_alias)).to_contain_text("Prioritaire")
        assert (await danger.state(lambda c: c["state"] == "assigned"))["counsellor"] == "Camille"

        # An assigned conversation moves too: Inès's teen to Camille, and Inès's console drops it.
        await ines_row.get_by_role("button", name=re.compile("Réattribuer " + re.escape(first_alias))).click()
        await expect(page.locator("#reassign-title")).to_contain_text("avec Inès")
        await page.click("#reassign-send")
        await expect(page.locator("#sup-notice")).to_have_text(f"{first_alias} : réattribuée à Camille.")
        await ines.next("conversation", where=lambda f: f["conversation"]["state"] == "transferred")
        await expect(camille_row.locator(".sup-load-text")).to_have_text(f"3 / {capacity}")
        await expect(ines_row.locator(".sup-load-text")).to_have_text("0 / 1")

        # A refused reassignment shows the server's reason in the form.
        await camille_row.get_by_role("button", name=re.compile("Réattribuer " + re.escape(first_alias))).click()
        await expect(page.locator("#reassign-to option")).to_have_text(["Inès — 0 / 1 — psychologue"])
        await page.locator("#reassign-form").evaluate(
            "form => { form.querySelector('option').value = 'nobody'; form.requestSubmit(); }")
        await expect(page.locator("#reassign-error")).to_contain_text("inconnu")
        await page.click("#reassign-cancel")
        await expect(page.locator("#reassign-form")).to_be_hidden()

        assert page.csp_errors == []
        for client in (first, mocked, danger, ines, camille):
            await client.close()


async def test_counsellor_transfers_to_a_colleague_with_a_note_the_teen_never_gets(browser):
    note = "Plainte à préparer : il a gardé les captures."
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("quelqu'un a volé mon compte insta et demande de l'argent")
        item = page.locator(".conv-item")
        await expect(item).to_have_count(1)
        await item.click()
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text("volé mon compte")
        lea = await gw.on_duty("lea", "Léa", skills=frozenset({"juriste"}))

        await page.click("#transfer-open")
        form = page.locator("#transfer-form")
        await expect(form).to_be_visible()
        colleague = page.locator("#transfer-colleagues .colleague").filter(has_text="Léa")
        await expect(colleague).to_contain_text("disponible")  # from the fresh `team` answer
        await expect(colleague).to_contain_text("juriste")
        await expect(page.locator("#transfer-skills-hint")).to_contain_text("juriste")

        # A refused transfer says why in the form, and nothing moves.
        await colleague.locator("input").check()
        await colleague.locator("input").evaluate("input => { input.value = 'nobody' }")
        await page.click("#transfer-send")
        await expect(page.locator("#transfer-error")).to_contain_text("inconnu")
        await expect(page.locator("#transfer-send")).to_be_enabled()
        await expect(page.locator(".conv-item")).to_have_count(1)
        await page.click("#transfer-cancel")
        await page.click("#transfer-open")  # the list is rebuilt from the team

        await colleague.locator("input").check()
        await page.fill("#transfer-note", note)
        await expect(page.locator("#transfer-note-count")).to_have_text(f"{len(note)} / 1000")
        await page.click("#transfer-send")

        await expect(page.locator(".notice-info")).to_contain_text("transférée à Léa")
        await expect(page.locator(".conv-item")).to_have_count(0)
        await expect(page.locator("#pane-empty")).to_be_visible()
        await expect(form).to_be_hidden()

        got = await lea.assigned()
        await lea.send({"type": "open", "conversation_id": got["id"]})
        history = (await lea.next("history", where=lambda f: f["conversation_id"] == got["id"]))["messages"]
        notes = [m for m in history if m["from"] == "note"]
        assert any(note in m["text"] for m in notes), history
        assert any("volé mon compte" in m["text"] for m in history if m["from"] == "teen")

        await teen.message(lambda m: m["from"] == "system" and "relais" in m["text"])
        assert (await teen.state(lambda c: c["state"] == "assigned" and c["counsellor"] == "Léa"))
        await teen.barrier()
        teen.assert_none("message", where=lambda f: f["message"]["from"] == "note")
        assert all(note not in str(frame) for frame in teen.buffer)
        assert page.csp_errors == []
        for client in (teen, lea):
            await client.close()


async def test_a_raised_conversation_and_a_transfer_note_show_as_text_in_the_colleagues_page(browser):
    async with running_gateway(make_config()) as gw:
        camille = await gw.on_duty("camille", "Camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("j'ai envie de mourir " + HTML_PAYLOAD)
        conversation = await camille.assigned()
        assert conversation["priority"] > 0
        await gw.add_counsellor("lea", "Léa")
        page = await open_console(browser, gw.http, "lea")
        await camille.send({"type": "team"})
        lea_id = next(c["id"] for c in (await camille.next("team"))["team"] if c["display_name"] == "Léa")
        await camille.send({"type": "transfer", "conversation_id": conversation["id"], "to_counsellor": lea_id,
                            "note": "Attention " + HTML_PAYLOAD})
        assert (await camille.next("transferred"))["outcome"] == "assigned"

        item = page.locator(".conv-item")
        await expect(item).to_have_count(1)
        await expect(item).to_have_class(re.compile(r"\bis-raised\b"))
        await expect(item.locator(".conv-priority")).to_have_text(SUICIDE_REASON)
        await expect(item.locator(".conv-skill")).to_have_text("Compétence requise : psychologue")
        await item.click()
        await expect(page.locator("#conv-priority")).to_have_text(SUICIDE_REASON)
        notes = page.locator('#messages .msg-note[data-from="note"]')
        await expect(notes.filter(has_text="Priorité relevée")).to_have_count(1)
        transfer_note = notes.filter(has_text="Transfert")
        await expect(transfer_note).to_contain_text("Attention " + HTML_PAYLOAD)
        await expect(transfer_note.locator(".msg-author")).to_have_text("Note interne")
        await expect(transfer_note.locator(".msg-internal")).to_have_text("non envoyée au jeune")
        await expect(page.locator('#messages .msg[data-from="teen"]')).to_contain_text(HTML_PAYLOAD)

        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("img[src='x'], b:text('gras')").count() == 0
        await expect(page.locator("#supervision-link")).to_be_hidden()  # a counsellor has no supervision page
        assert page.csp_errors == []
        for client in (teen, camille):
            await client.close()


async def test_a_conversation_reassigned_away_leaves_the_counsellors_page_with_a_notice(browser):
    async with running_gateway(make_config()) as gw:
        await gw.add_counsellor("camille", "Camille")
        page = await open_console(browser, gw.http, "camille")
        teen = await Widget.connect(gw.ws)
        await teen.say("on a piraté mon compte")
        item = page.locator(".conv-item")
        await expect(item).to_have_count(1)
        await item.click()
        await expect(page.locator("#pane-body")).to_be_visible()
        lea = await gw.on_duty("lea", "Léa")
        await gw.add_counsellor("sam", "Sam", role=Role.SUPERVISOR)
        supervisor = await Console.login(gw.http, "sam", PASSWORD)
        snapshot = await supervisor.next("supervision", where=lambda f: any(m["conversations"] for m in f["team"]))
        waiting = next(c for m in snapshot["team"] for c in m["conversations"])
        lea_id = next(m["id"] for m in snapshot["team"] if m["display_name"] == "Léa")
        await supervisor.send({"type": "reassign", "conversation_id": waiting["id"], "to_counsellor": lea_id})
        assert (await supervisor.next("reassigned"))["to"] == "Léa"

        await expect(page.locator(".notice-info")).to_contain_text(f"{waiting['alias']} ne vous est plus attribuée")
        await expect(page.locator(".conv-item")).to_have_count(0)
        await expect(page.locator("#pane-empty")).to_be_visible()
        assert (await lea.assigned())["id"] == waiting["id"]
        assert page.csp_errors == []
        for client in (teen, lea, supervisor):
            await client.close()
