"""Hostile text in real headless Chromium: every path by which text reaches a page shows it
as text, literally, and runs nothing.

One gateway (memory store), the Meta stand-in as Graph API, a widget page, and console pages.
The same corpus of HTML/script payloads is sent by a teen from (a) the widget page, typed
into the real text box, (b) Messenger and (c) WhatsApp through the stand-in's signed
webhooks; the counsellor replies with it from the console page; a transfer note carries it;
the counsellors' display names carry it too (the teen sees them, colleagues and the
supervisor's view list them).

Each payload, if it ever ran, would set `top.__pwned` to a marker naming it (channel digit x
100 + index: 1 widget, 2 Messenger, 3 WhatsApp, 4 reply, 5 note, 6 display names), fetch
`/xss-probe-<marker>`, or open a dialog. Each page fails the test on any of those, on an
element the app does not make (img, svg, iframe, script…), on a Content-Security-Policy
report, or on a script error; and each line shown must equal, character for character, the
stored text (which must be what was sent, less the control characters the server strips).
"""

from __future__ import annotations

import unicodedata

import pytest
from playwright.async_api import Page, expect

from gateway.domain.model import Author, Channel, Role
from tests.browser import chromium
from tests.harness import PASSWORD, make_config, running_gateway
from tests.test_meta_flow import PHONE, PSID

LONG = 2000  # the gateway's and the widget's limit, in characters

# `{m}` is the marker. No leading or trailing blanks (the widget and the console trim them),
# no words the triage would raise.
CORPUS: list[str] = [
    "<script>top.__pwned={m}</script>",
    "<img src=/xss-probe-{m} onerror=top.__pwned={m}>",
    "<svg onload=top.__pwned={m}><circle r=9 /></svg>",
    "<svg><script>top.__pwned={m}</script><animate onbegin=top.__pwned={m} attributeName=x dur=1s>",
    '<a href="javascript:top.__pwned={m}">clique ici</a> <a href=" JaVaScRiPt:top.__pwned={m}">ou là</a>',
    '<iframe srcdoc="<script>top.__pwned={m}</script><img src=/xss-probe-{m}>"></iframe>',
    '<iframe src="javascript:top.__pwned={m}"></iframe><object data="javascript:top.__pwned={m}"></object>',
    '<div style="width:expression(top.__pwned={m});background:url(/xss-probe-{m})">style</div>',
    "<style>@import url(/xss-probe-{m});*{background:url(/xss-probe-{m})}</style>",
    "<template><img src=/xss-probe-{m} onerror=top.__pwned={m}></template><b>gras {m}</b>",
    '<noscript><p title="</noscript><img src=/xss-probe-{m} onerror=top.__pwned={m}>">',
    "<math><mtext><table><mglyph><style><img src=/xss-probe-{m} onerror=top.__pwned={m}>",
    '<svg></p><style><a id="</style><img src=/xss-probe-{m} onerror=top.__pwned={m}>">',
    "<form><math><mtext></form><form><mglyph><svg><mtext><style><path id=\"</style>"
    "<img onerror=top.__pwned={m} src=/xss-probe-{m}>\">",
    "&lt;img src=/xss-probe-{m} onerror=top.__pwned={m}&gt; &amp;amp; "
    "&#60;script&#62;top.__pwned={m}&#60;/script&#62; &quot;&#x27;",
    '"><img src=/xss-probe-{m} onerror=top.__pwned={m}>\'><script>top.__pwned={m}</script>',
    "</textarea></title></style></script></noscript><script>top.__pwned={m}</script>",
    "<scr<script>ipt>top.__pwned={m}</scr</script>ipt><IMG SRC=JaVaScRiPt:top.__pwned={m}>",
    '<img src="jav&#x09;ascript:top.__pwned={m}"><img src=/xss-probe-{m} onerror=alert({m})>',
    "<details open ontoggle=top.__pwned={m}><summary>x</summary></details>"
    "<input autofocus onfocus=top.__pwned={m}>",
    "<body onload=top.__pwned={m}><video><source onerror=top.__pwned={m}></video>"
    "<audio src=/xss-probe-{m} onerror=top.__pwned={m}>",
    '<meta http-equiv="refresh" content="0;url=javascript:top.__pwned={m}"><base href="javascript:top.__pwned={m}//">',
    '<embed src="javascript:top.__pwned={m}"><link rel=stylesheet href=/xss-probe-{m}>'
    '<form action="javascript:top.__pwned={m}"><button>ok</button></form>',
    "<!--<img src=\"--><img src=/xss-probe-{m} onerror=top.__pwned={m}>--><![CDATA[<script>top.__pwned={m}</script>]]>",
    "[clique ici](javascript:top.__pwned={m}) ![photo](/xss-probe-{m}) <https://exemple.invalid/{m}> **gras** `code`",
    "javascript:top.__pwned={m} data:text/html,<script>top.__pwned={m}</script> ${top.__pwned={m}} "
    "{{constructor.constructor('top.__pwned={m}')()}}",
    "\u202e<img src=/xss-probe-{m} onerror=top.__pwned={m}>\u202d gnp.exe \u200b\u2066<b>{m}</b>\u2069 "
    "\uff1cscript\uff1etop.__pwned={m}\uff1c/script\uff1e",
    "😢🔥👀 <img src=/xss-probe-{m} onerror=top.__pwned={m}> 🏳️‍🌈 👩🏽‍💻 \U0001d54f\U0001d54a\U0001d54a",
    "ctrl\x00\x07\x1b[31m<script>top.__pwned={m}</script>\x7f\x9b fin",
    "ligne 1\n<script>\ntop.__pwned={m}\n</script>\n\tligne 4 "
    "<xmp><plaintext><img src=/xss-probe-{m} onerror=top.__pwned={m}>",
    "LONG",  # replaced by a 2000-character payload
]

NAMES = {  # display names (chosen by an admin, shown to the teen, colleagues and supervisors)
    "camille": "Camille <img src=/xss-probe-601 onerror=top.__pwned=601><script>top.__pwned=602</script>",
    "lea": "Léa <svg onload=top.__pwned=603>\"'&amp;</svg>",
}
NOTE = ("Attention <img src=/xss-probe-501 onerror=top.__pwned=501> <script>top.__pwned=502</script>\n"
        "<iframe srcdoc=\"<script>top.__pwned=503</script>\"></iframe> [lien](javascript:top.__pwned=504) "
        "&lt;b&gt; \u202e<svg onload=top.__pwned=505> 🙏")

# Tags the app itself uses inside the areas that show people's text.
MESSAGE_TAGS = {
    "widget": {"DIV", "P", "SPAN", "BUTTON"},
    "console": {"LI", "DIV", "SPAN", "P", "TIME", "BUTTON"},
}
# Tags no text may create: their count in the whole document must never grow.
DANGEROUS = ("script, img, svg, iframe, frame, object, embed, style, link, meta, base, math, template, video, "
             "audio, source, noscript, marquee, details, xmp, plaintext, form, a, b")

TRAP = """(() => {
  const hits = [];
  Object.defineProperty(window, '__pwnedHits', { value: hits });
  Object.defineProperty(window, '__pwned', {
    configurable: false,
    get() { return hits.length ? hits[hits.length - 1] : undefined; },
    set(v) { hits.push(String(v)); try { if (top !== window) top.__pwned = v; } catch (e) { /* */ } },
  });
})();"""


def payload(index: int, code: int) -> str:
    marker = code * 100 + index
    template = CORPUS[index]
    if template == "LONG":
        unit = f"<img src=/xss-probe-{marker} onerror=top.__pwned={marker}><script>top.__pwned={marker}</script>"
        text = (f"[{marker}] " + unit * (LONG // len(unit) + 1))[:LONG - 1] + "!"
        assert len(text) == LONG
        return text
    return template.replace("{m}", str(marker))


def stored_form(text: str) -> str:
    """What the server keeps of a teen's or counsellor's text: control characters go."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


# --- pages and their traps ------------------------------------------------------------------


class Watched:
    """A page with every sign of script execution recorded."""

    def __init__(self, page: Page, name: str):
        self.page, self.name = page, name
        self.dialogs: list[str] = []
        self.probes: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        self.baseline: dict[str, int] = {}

        async def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda r: self.probes.append(r.url) if "xss-probe" in r.url or
                r.url.startswith(("javascript:", "data:")) else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None)

    async def count_dangerous(self) -> dict[str, int]:
        return await self.page.evaluate("""sel => {
            const counts = {};
            for (const node of document.querySelectorAll(sel)) counts[node.tagName] = (counts[node.tagName] || 0) + 1;
            return counts;
        }""", DANGEROUS)

    async def set_baseline(self) -> None:
        self.baseline = await self.count_dangerous()

    async def assert_clean(self, where: str) -> None:
        hits = await self.page.evaluate("window.__pwnedHits ? Array.from(window.__pwnedHits) : null")
        assert hits is not None, f"{self.name}: the __pwned trap is not installed"
        assert hits == [], f"{self.name}: injected script ran ({where}), markers {hits}"
        assert self.dialogs == [], f"{self.name}: a dialog opened ({where}): {self.dialogs}"
        assert self.probes == [], f"{self.name}: injected element fetched ({where}): {self.probes}"
        assert self.csp == [], f"{self.name}: the browser refused injected code ({where}): {self.csp}"
        assert self.errors == [], f"{self.name}: script errors ({where}): {self.errors}"
        assert await self.count_dangerous() == self.baseline, \
            f"{self.name}: elements appeared ({where}): {await self.count_dangerous()} vs {self.baseline}"


async def new_watched(browser, name: str, **context) -> Watched:
    ctx = await browser.new_context(**context)
    await ctx.add_init_script(TRAP)
    return Watched(await ctx.new_page(), name)


async def open_widget(browser, base: str) -> Watched:
    w = await new_watched(browser, "widget", viewport={"width": 360, "height": 740})
    await w.page.goto(f"{base}/")
    await w.page.click("#w3018-launcher")
    await expect(w.page.locator("#w3018-panel")).to_be_visible()
    await w.set_baseline()
    return w


async def open_console(browser, base: str, username: str) -> Watched:
    c = await new_watched(browser, f"console of {username}")
    page = c.page
    await page.goto(f"{base}/console")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#presence")).to_be_enabled()
    await page.select_option("#presence", "available")
    await c.set_baseline()
    return c


async def tags_in(page: Page, selector: str) -> set[str]:
    return set(await page.evaluate("sel => Array.from(document.querySelectorAll(sel + ' *'), n => n.tagName)",
                                   selector))


# --- what the pages show, against what the store holds ---------------------------------------


async def widget_lines(page: Page) -> list[dict]:
    """The widget's lines. The teen's own bubble keeps what they typed once it is stored, so
    it may still hold the control characters the server dropped: compared without them."""
    lines = await page.evaluate("""() => Array.from(document.querySelectorAll('#w3018-messages .w3018-msg[data-seq]'),
        n => ({seq: Number(n.dataset.seq), from: n.dataset.from,
               author: n.querySelector('.w3018-author') ? n.querySelector('.w3018-author').textContent : null,
               text: n.querySelector('.w3018-text').textContent,
               textNodes: n.querySelector('.w3018-text').childNodes.length}))""")
    for line in lines:
        if line["from"] == "teen":
            line["text"] = stored_form(line["text"])
    return lines


async def console_lines(page: Page) -> list[dict]:
    return await page.evaluate("""() => Array.from(document.querySelectorAll('#messages .msg[data-seq]'),
        n => ({seq: Number(n.dataset.seq), from: n.dataset.from,
               author: n.querySelector('.msg-author').textContent,
               text: n.querySelector('.msg-text').textContent,
               textNodes: n.querySelector('.msg-text').childNodes.length}))""")


def widget_expected(messages) -> list[dict]:
    out = []
    for m in messages:
        if m.author is Author.NOTE:
            continue
        author = (None if m.author is Author.SYSTEM else "Toi" if m.author is Author.TEEN
                  else m.author_name or "Conseiller·e")
        out.append({"seq": m.seq, "from": m.author.value, "author": author, "text": m.text, "textNodes": 1})
    return out


def console_expected(messages, alias: str) -> list[dict]:
    labels = {Author.TEEN: alias, Author.SYSTEM: "Message automatique", Author.NOTE: "Note interne"}
    return [{"seq": m.seq, "from": m.author.value, "author": labels.get(m.author) or m.author_name or "Écoutant",
             "text": m.text, "textNodes": 1} for m in messages]


def first_difference(shown: list[dict], expected: list[dict]) -> str:
    for a, b in zip(shown, expected):
        if a != b:
            return f"shown {a!r}\nstored {b!r}"
    return f"{len(shown)} lines shown, {len(expected)} stored"


async def conversations(gw) -> dict[Channel, object]:
    return {c.channel: c for c in await gw.helpline.store.conversations_since(0)}


async def check_console_thread(console: Watched, gw, conversation, where: str) -> None:
    """Open the conversation in the console page and compare every line with the store."""
    page = console.page
    item = page.locator(".conv-item").filter(has=page.locator(f'.conv-name:text-is("{conversation.alias}")'))
    await expect(item).to_have_count(1)
    await item.locator(".conv-open").click()
    await expect(page.locator("#conv-alias")).to_have_text(conversation.alias)
    stored = await gw.helpline.store.messages(conversation.id)
    expected = console_expected(stored, conversation.alias)
    await expect(page.locator("#messages .msg[data-seq]")).to_have_count(len(expected), timeout=10_000)
    shown = await console_lines(page)
    assert shown == expected, f"{console.name}, {where}: {first_difference(shown, expected)}"
    extra = await tags_in(page, "#messages") - MESSAGE_TAGS["console"]
    assert not extra, f"{console.name}, {where}: elements made from text: {extra}"
    await console.assert_clean(where)


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
async def browser():
    async with chromium() as b:
        yield b



async def test_hostile_text_shows_literally_and_runs_nothing_in_the_widget_and_the_console(browser, standin):
    n = len(CORPUS)
    config = make_config(meta={"graph_api_url": standin.url},
                         limits={"widget_messages_per_minute": 600},
                         routing={"max_conversations_per_counsellor": 5})
    async with running_gateway(config) as gw:
        await gw.add_counsellor("camille", NAMES["camille"])
        await gw.add_counsellor("lea", NAMES["lea"], role=Role.SUPERVISOR)
        camille = await open_console(browser, gw.http, "camille")
        await expect(camille.page.locator("#me-name")).to_have_text(NAMES["camille"])

        # (a) The teen types each payload into the real widget, one message each.
        teen = await open_widget(browser, gw.http)
        for i in range(n):
            await teen.page.fill("#w3018-input", payload(i, 1))
            await teen.page.press("#w3018-input", "Enter")
        await expect(teen.page.locator('#w3018-messages .w3018-msg[data-from="teen"][data-seq]')).to_have_count(
            n, timeout=10_000)
        await expect(teen.page.locator("#w3018-messages .w3018-pending, #w3018-messages .w3018-failed")
                     ).to_have_count(0)

        # (b), (c) The same corpus from Messenger and WhatsApp, signed as Meta signs.
        for i in range(n):
            assert (await standin.send_messenger_text(gw.http, PSID, payload(i, 2)))[0] == 200
            assert (await standin.send_whatsapp_text(gw.http, PHONE, payload(i, 3)))[0] == 200

        convs = await conversations(gw)
        assert set(convs) == set(Channel)
        for channel, code in ((Channel.WEB, 1), (Channel.MESSENGER, 2), (Channel.WHATSAPP, 3)):
            stored = await gw.helpline.store.messages(convs[channel].id)
            teen_texts = [m.text for m in stored if m.author is Author.TEEN]
            assert teen_texts == [stored_form(payload(i, code)) for i in range(n)], channel

        # The counsellor's page: the list of aliases, then each thread, line by line.
        await expect(camille.page.locator(".conv-item")).to_have_count(3, timeout=10_000)
        names = await camille.page.locator(".conv-name").all_text_contents()
        assert sorted(names) == sorted(c.alias for c in convs.values())
        for channel in (Channel.MESSENGER, Channel.WHATSAPP, Channel.WEB):
            await check_console_thread(camille, gw, convs[channel], f"{channel.value} thread")

        # The counsellor answers the web teen with the corpus; her name shows while she types.
        web = convs[Channel.WEB]
        await camille.page.fill("#reply-input", "…")
        await expect(teen.page.locator("#w3018-typing")).to_have_text(f"{NAMES['camille']} est en train d'écrire…")
        for i in range(n):
            await camille.page.fill("#reply-input", payload(i, 4))
            await camille.page.press("#reply-input", "Enter")
        await expect(camille.page.locator("#messages .msg.pending")).to_have_count(0, timeout=10_000)
        replies = [m.text for m in await gw.helpline.store.messages(web.id) if m.author is Author.COUNSELLOR]
        assert replies == [stored_form(payload(i, 4)) for i in range(n)]
        await check_console_thread(camille, gw, web, "web thread after the replies")

        # The teen's page: every line (theirs, the counsellor's, the automatic ones with her name).
        stored = await gw.helpline.store.messages(web.id)
        expected = widget_expected(stored)
        await expect(teen.page.locator("#w3018-messages .w3018-msg[data-seq]")).to_have_count(
            len(expected), timeout=10_000)
        shown = await widget_lines(teen.page)
        assert shown == expected, f"widget: {first_difference(shown, expected)}"
        assert any(NAMES["camille"] in m["text"] for m in shown if m["from"] == "system")
        await expect(teen.page.locator("#w3018-status")).to_have_text(f"{NAMES['camille']} est avec toi.")
        assert not (await tags_in(teen.page, "#w3018-messages")) - MESSAGE_TAGS["widget"]
        await teen.assert_clean("after the counsellor's replies")

        # A transfer to Léa with a hostile note: the form lists her name as text.
        lea = await open_console(browser, gw.http, "lea")
        await camille.page.click("#transfer-open")
        colleague = camille.page.locator("#transfer-colleagues .colleague")
        await expect(colleague.locator(".colleague-name")).to_have_text([NAMES["lea"]])
        assert not (await tags_in(camille.page, "#transfer-colleagues")) - {"LI", "INPUT", "LABEL", "SPAN"}
        await colleague.locator("input").check()
        await camille.page.fill("#transfer-note", NOTE)
        await camille.page.click("#transfer-send")
        await expect(camille.page.locator(".notice-info .notice-text")).to_have_text(
            f"{web.alias} : transférée à {NAMES['lea']}.")
        await expect(camille.page.locator(".conv-item")).to_have_count(2)
        await camille.assert_clean("after the transfer")

        stored = await gw.helpline.store.messages(web.id)
        notes = [m.text for m in stored if m.author is Author.NOTE]
        assert notes == [f"Transfert de {NAMES['camille']} vers {NAMES['lea']} : {NOTE}"]
        await check_console_thread(lea, gw, web, "web thread with the transfer note")
        await expect(lea.page.locator("#me-name")).to_have_text(NAMES["lea"])

        # The supervision page (Léa is a supervisor; its own page, H6): names in the team table, as text.
        sup = Watched(await lea.page.context.new_page(), "supervision page of lea")
        await sup.page.goto(f"{gw.http}/console/supervision")
        await sup.set_baseline()
        team = sup.page.locator("#sup-team-rows .sup-name")
        await expect(team).to_have_count(2)
        assert sorted(await team.all_text_contents()) == sorted(NAMES.values())
        await expect(sup.page.locator("#sup-team-rows .sup-conv-alias")).to_have_count(3)
        await sup.assert_clean("on the supervision page")

        # The teen sees Léa's name (status) as text, the handover notice, and never the note.
        stored = await gw.helpline.store.messages(web.id)
        expected = widget_expected(stored)
        await expect(teen.page.locator("#w3018-status")).to_have_text(f"{NAMES['lea']} est avec toi.")
        await expect(teen.page.locator("#w3018-messages .w3018-msg[data-seq]")).to_have_count(len(expected))
        shown = await widget_lines(teen.page)
        assert shown == expected, f"widget after the transfer: {first_difference(shown, expected)}"
        assert any("relais" in m["text"] for m in shown[-3:] if m["from"] == "system")
        assert "Attention" not in await teen.page.locator("#w3018-root").text_content()
        assert not (await tags_in(teen.page, "#w3018-messages")) - MESSAGE_TAGS["widget"]

        # After a reload the widget rebuilds every line from the server's history.
        await teen.page.reload()
        await expect(teen.page.locator("#w3018-panel")).to_be_visible()
        await expect(teen.page.locator("#w3018-messages .w3018-msg[data-seq]")).to_have_count(len(expected))
        shown = await widget_lines(teen.page)
        assert shown == expected, f"widget after a reload: {first_difference(shown, expected)}"
        assert not (await tags_in(teen.page, "#w3018-messages")) - MESSAGE_TAGS["widget"]

        for watched in (teen, camille, lea):
            await watched.assert_clean("at the end")
            await watched.page.context.close()
