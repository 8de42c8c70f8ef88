"""config.yaml's `casework:` section and `retention.case_years` (issue #12): parsed, bounded,
refused with the key named; and a live reload may add a value but not remove one in use."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import yaml

from gateway.app.config_watch import ConfigWatcher
from gateway.app.server import build_parts
from gateway.core import casework
from gateway.core.helpline import Helpline
from gateway.core.ports import AssignOutcome
from gateway.domain.casework import DEFAULT_CASEWORK, DSA_CATEGORIES, LIST_FIELDS
from gateway.domain.clock import ManualClock
from gateway.domain.config import Config, load_config, parse_config
from gateway.domain.errors import ConfigError
from gateway.domain.model import (
    Channel,
    CloseReason,
    Counsellor,
    InboundMessage,
    Presence,
)
from tests.harness import TUESDAY_10H
from tests.processes import ALWAYS_OPEN

ROOT = Path(__file__).resolve().parent.parent


def shipped() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def test_the_shipped_file_writes_out_the_built_in_lists():
    config = load_config(ROOT / "config.yaml")
    assert config.casework == DEFAULT_CASEWORK and config.case_years == 5
    assert config.casework.post_chat_question is False


def test_without_the_section_every_built_in_list_applies():
    config = parse_config(None)
    assert config.casework == DEFAULT_CASEWORK and config.case_years == Config.case_years == 5
    assert [c.value for c in config.casework.categories][:3] == ["cyberharcelement", "sextorsion", "images_intimes"]
    assert {o.command for o in config.casework.orientations} >= {"119", "pharos", "3114"}
    assert all(c.dsa in DSA_CATEGORIES and c.chi for c in config.casework.categories)


def test_a_key_left_out_keeps_its_built_in_list():
    config = parse_config({"casework": {"platforms": [{"value": "bereal", "label": "BeReal"}],
                                        "care_pause_minutes": 0}, "retention": {"case_years": 10}})
    assert [o.value for o in config.casework.platforms] == ["bereal"]
    assert config.casework.caller == DEFAULT_CASEWORK.caller and config.casework.care_pause_minutes == 0
    assert config.case_years == 10


def test_the_options_view_is_the_api_shape():
    view = DEFAULT_CASEWORK.view()
    assert list(view) == list(LIST_FIELDS)
    assert view["caller"][0] == {"value": "jeune", "label": "Jeune"}
    assert set(view["categories"][0]) == {"value", "label", "chi", "dsa"}
    console = DEFAULT_CASEWORK.console_view()
    assert console["orientations"][0] == {"command": "119", "label": "119 — Enfance en danger",
                                          "outcome": "orientation_119", "text": console["orientations"][0]["text"]}
    assert "{conseiller}" in console["ready_answers"][0]["text"]


def one(value: str, label: str = "Libellé") -> dict:
    return {"value": value, "label": label}


@pytest.mark.parametrize(("section", "key", "words"), [
    ({"caller": [one("Jeune")]}, "casework.caller[0].value", "a-z, 0-9 and _"),
    ({"caller": [one("x" * 41)]}, "casework.caller[0].value", "1 to 40"),
    ({"age_band": [{"value": 11_12, "label": "11–12 ans"}]}, "casework.age_band[0].value", "must be a text"),
    ({"caller": [one("a"), one("a")]}, "casework.caller", "'a' is given twice"),
    ({"caller": []}, "casework.caller", "at least one value"),
    ({"caller": [one("a", "x" * 81)]}, "casework.caller[0].label", "at most 80"),
    ({"caller": [one("a", " ")]}, "casework.caller[0].label", "non-empty"),
    ({"caller": [{"value": "a"}]}, "casework.caller[0].label", "missing"),
    ({"caller": [{**one("a"), "colour": "red"}]}, "casework.caller[0].colour", "unknown key"),
    ({"platforms": [one(f"p{i}") for i in range(101)]}, "casework.platforms", "at most 100 entries"),
    ({"categories": [{**one("a"), "dsa": "STATEMENT_CATEGORY_MADE_UP"}]}, "casework.categories[0].dsa",
     "not a DSA transparency-database category"),
    ({"heavy_categories": ["nope"]}, "casework.heavy_categories", "nope is not one of casework.categories"),
    ({"orientations": [{"command": "119", "label": "119", "outcome": "nope", "text": "Appelle le 119."}]},
     "casework.orientations", "not one of casework.outcomes"),
    ({"ready_answers": [{"key": "a", "label": "A", "text": "Bonjour {prenom}"}]},
     "casework.ready_answers[0].text", "unknown placeholder {prenom}; allowed: {conseiller}"),
    ({"ready_answers": [{"key": "a", "label": "A", "text": "{conseiller:>9999}"}]},
     "casework.ready_answers[0].text", "format or conversion"),
    ({"ready_answers": [{"key": "a", "label": "A", "text": "x" * 2001}]},
     "casework.ready_answers[0].text", "at most 2000"),
    ({"ready_answers": [{"key": "a", "label": "A", "text": "x"}] * 2}, "casework.ready_answers", "given twice"),
    ({"care_pause_minutes": 121}, "casework.care_pause_minutes", "between 0 and 120"),
    ({"post_chat_question": "yes"}, "casework.post_chat_question", "true or false"),
    ({"colour": "red"}, "casework.colour", "unknown key"),
])
def test_a_bad_casework_setting_is_refused_naming_its_key(section, key, words):
    with pytest.raises(ConfigError) as refused:
        parse_config({"casework": section})
    assert refused.value.key == key and words in refused.value.problem


@pytest.mark.parametrize("years", [0, 51, "5"])
def test_case_years_is_bounded(years):
    with pytest.raises(ConfigError) as refused:
        parse_config({"retention": {"case_years": years}})
    assert refused.value.key == "retention.case_years"


# --- the live reload asks the store which values are in use ----------------------------------
def write(path: Path, casework_section: dict | None) -> None:
    doc = {"store": {"url": "memory://", "prefix": "3018"}, "opening_hours": ALWAYS_OPEN}
    if casework_section is not None:
        doc["casework"] = casework_section
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.fixture(params=["memory", "redis"])
async def helpline(request: pytest.FixtureRequest):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    config = parse_config({"store": {"url": url, "prefix": f"cc{uuid.uuid4().hex[:8]}"},
                           "opening_hours": ALWAYS_OPEN})
    parts = build_parts(config, clock=ManualClock(TUESDAY_10H))
    await parts.store.start()
    await parts.bus.start()
    yield Helpline(parts.config, parts.store, parts.bus, parts.clock, parts.pseudonyms)
    await parts.bus.close()
    await parts.store.close()


async def qualified_with(helpline: Helpline, platform: str) -> None:
    camille = Counsellor(id=uuid.uuid4().hex, username=uuid.uuid4().hex, display_name="Camille", password_hash="x",
                         presence=Presence.AVAILABLE)
    await helpline.store.add_counsellor(camille)
    received = await helpline.receive(InboundMessage(Channel.WEB, uuid.uuid4().hex, "m1", "allo",
                                                     helpline.clock.now()))
    conversation_id = received.conversation.id
    assert await helpline.store.try_assign(conversation_id, camille.id, 3, helpline.clock.now()) \
        is AssignOutcome.ASSIGNED
    await helpline.close(conversation_id, CloseReason.BY_COUNSELLOR)
    await casework.qualify(helpline, camille.id, conversation_id,
                           {"caller": "jeune", "age_band": "15_17", "categories": ["arnaque"],
                            "platforms": [platform], "outcomes": ["ecoute_conseil"]})


async def test_a_reload_removing_a_value_in_use_is_refused_and_adding_one_applies(helpline, tmp_path, caplog):
    path = tmp_path / "config.yaml"
    write(path, None)
    applied: list[Config] = []
    watcher = ConfigWatcher(path, load_config(path), applied.append, check=lambda c: casework.reload_refusal(helpline, c))
    await qualified_with(helpline, "yubo")
    platforms = DEFAULT_CASEWORK.view()["platforms"]

    write(path, {"platforms": [p for p in platforms if p["value"] != "yubo"]})
    assert await watcher.check_now() is False
    assert applied == []
    assert watcher.state()["error"] == ("casework.platforms: yubo is used by stored qualifications and cannot be "
                                         "removed (change its label instead)")
    assert any("keeping the last good configuration" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)

    relabelled = [{**p, "label": "Yubo (appli)"} if p["value"] == "yubo" else p for p in platforms]
    write(path, {"platforms": [*relabelled, {"value": "bereal", "label": "BeReal"}]})
    assert await watcher.check_now() is True
    assert [o.label for o in applied[0].casework.platforms if o.value in ("yubo", "bereal")] == \
        ["Yubo (appli)", "BeReal"]
    await watcher.stop()


async def test_a_check_that_cannot_reach_the_store_refuses_the_edit(tmp_path):
    path = tmp_path / "config.yaml"
    write(path, None)

    async def store_down(config: Config) -> ConfigError | None:
        raise OSError("store down")

    watcher = ConfigWatcher(path, load_config(path), lambda c: None, check=store_down)
    write(path, {"care_pause_minutes": 5})
    assert await watcher.check_now() is False
    assert watcher.state()["error"].startswith("(check): could not be checked against stored data (OSError)")
    await watcher.stop()
