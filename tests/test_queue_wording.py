"""One truthful queue wording: the widget's band and the bubbles say the place and the wait in
the same words, staff are "écoutant·e" everywhere, "nobody is available" only when nobody is,
and a wait figure as soon as counsellors are on duty (built-in prior until there are samples)."""

from __future__ import annotations

import uuid

import pytest
import yaml

from gateway.domain import figures, texts
from gateway.domain.figures import NOBODY_AVAILABLE_FR, WaitEstimate
from gateway.domain.message_templates import DEFAULT_MESSAGES
from tests.clients import Widget
from tests.harness import make_config, running_gateway

CONFIG_YAML = "config.yaml"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def config(store_url: str):
    return make_config(store_url, prefix=f"w{uuid.uuid4().hex[:10]}")


# --- the words, pure ---------------------------------------------------------------------------


def _teen_texts() -> dict[str, str]:
    """Every text a teen may read about staff: the automatic messages, built-in and shipped in
    config.yaml, and the sentences of the wait."""
    with open(CONFIG_YAML, encoding="utf-8") as f:
        shipped = yaml.safe_load(f)["messages"]
    found = {f"default {k}": v for k, v in DEFAULT_MESSAGES.items()}
    found |= {f"config.yaml {k}": v for k, v in shipped.items()}
    found |= {name: value for module in (texts, figures) for name, value in vars(module).items()
              if name.endswith("_FR") and isinstance(value, str)}
    return found


def test_teen_texts_call_staff_ecoutant_never_conseiller():
    offending = [name for name, text in _teen_texts().items() if "conseill" in text.lower()]
    assert offending == []
    assert any("écoutant·e" in text for text in _teen_texts().values())  # the scan saw the texts


def test_the_band_reads_as_the_queued_bubble():
    estimate = WaitEstimate(5 * 60, True, 10)
    bubble = DEFAULT_MESSAGES["queued"].format(position=texts.position_text(2), wait=texts.wait_sentence(estimate))
    band = texts.queue_sentence(2, estimate.text_fr())
    assert band == "Tu es n° 2 dans la file. Attente estimée : environ 5 minutes."
    assert band in bubble


def test_nobody_available_is_one_sentence_with_no_figure_and_no_contradiction():
    nobody = WaitEstimate(None, False, 0, nobody_available=True)
    bubble = DEFAULT_MESSAGES["queued"].format(position=texts.position_text(1), wait=texts.wait_sentence(nobody))
    assert NOBODY_AVAILABLE_FR in bubble and "Attente estimée" not in bubble
    assert texts.ALL_BUSY_FR not in bubble and "dès que possible" not in bubble
    assert texts.queue_sentence(1, nobody.text_fr()) == f"Tu es n° 1 dans la file. {texts.NOBODY_AVAILABLE_SHORT_FR}"


def test_all_busy_is_said_with_the_figure_never_as_nobody_available():
    busy = WaitEstimate(20 * 60, False, 0, all_busy=True)
    sentence = texts.wait_sentence(busy)
    assert sentence == f"{texts.ALL_BUSY_FR} Attente estimée : environ 20 minutes."
    assert "Aucun" not in sentence


# --- through the gateway, both stores ------------------------------------------------------------


async def _queued_teen(gw) -> tuple[Widget, dict, dict]:
    """A teen who writes and waits: (widget, the state it shows, the queued bubble)."""
    teen = await Widget.connect(gw.ws)
    await teen.say("bonjour")
    state = await teen.state(lambda c: c["state"] == "queued" and c["queue_text"] is not None)
    bubble = await teen.message(lambda m: m["from"] == "system")
    return teen, state, bubble


async def test_nobody_on_duty_the_teen_is_told_so_in_the_band_and_the_bubble(config):
    async with running_gateway(config) as gw:
        teen, state, bubble = await _queued_teen(gw)
        assert state["wait"] == NOBODY_AVAILABLE_FR
        assert state["queue_text"] == f"Tu es n° 1 dans la file. {texts.NOBODY_AVAILABLE_SHORT_FR}"
        # The band says it short, the bubble under it in full, once.
        assert "Tu es n° 1 dans la file." in bubble["text"] and NOBODY_AVAILABLE_FR in bubble["text"]
        await teen.close()


async def test_a_free_counsellor_is_never_reported_as_nobody_available(config):
    async with running_gateway(config) as gw, await gw.on_duty("camille") as console:
        # The queue was empty when Camille came: the dispatcher's last capacity figure is stale.
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        bubble = await teen.message(lambda m: m["from"] == "system")
        assert "Aucun" not in bubble["text"] and texts.ALL_BUSY_FR not in bubble["text"]
        assert "Tu es n° 1 dans la file. Attente estimée : moins de 2 minutes." in bubble["text"]
        await console.assigned()
        await teen.close()


async def _close_samples(gw, console, count: int, minutes: float) -> None:
    """`count` conversations, each assigned then closed by the counsellor `minutes` later."""
    for _ in range(count):
        teen = await Widget.connect(gw.ws)
        await teen.say("bonjour")
        conversation = await console.assigned()
        gw.clock.advance(minutes * 60)
        await console.send({"type": "close", "conversation_id": conversation["id"]})
        await teen.state(lambda c: c["state"] == "closed")
        await teen.close()


@pytest.mark.parametrize(("samples", "wait"), [
    (0, "environ 20 minutes"),  # the built-in typical length alone
    (2, "environ 20 minutes"),  # 2 samples of 6 min, 3 priors of 20: the median is a prior
    (10, "environ 6 minutes"),  # enough real samples: theirs
])
async def test_with_counsellors_busy_the_wait_is_estimated_from_the_first_teen(config, samples, wait):
    async with running_gateway(config) as gw, await gw.on_duty("camille", max_conversations=1) as console:
        await _close_samples(gw, console, samples, minutes=6)
        await gw.housekeeper.sweep_once()  # the estimate's inputs, as every 5 s
        assert len(gw.helpline.handling_seconds) == samples
        first = await Widget.connect(gw.ws)
        await first.say("bonjour")
        await console.assigned()  # Camille is now full
        teen, state, bubble = await _queued_teen(gw)
        assert state["wait"] == wait and state["position"] == 1
        band = f"Tu es n° 1 dans la file. Attente estimée : {wait}."
        assert state["queue_text"] == band
        assert f"{texts.ALL_BUSY_FR} Attente estimée : {wait}." in bubble["text"]  # busy, and said so
        assert "Aucun" not in bubble["text"]
        for client in (first, teen):
            await client.close()
