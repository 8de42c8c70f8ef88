"""config.yaml's `notices:` section (issue #13): the shipped file writes out the built-in lists,
a key left out keeps its own, and each mistake is refused with its key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.domain.config import Config, load_config, parse_config
from gateway.domain.errors import ConfigError
from gateway.domain.notices import DECISIONS, DEFAULT_NOTICES

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_file_writes_out_the_built_in_section():
    config = load_config(ROOT / "config.yaml")
    assert config.notices == DEFAULT_NOTICES == Config.notices
    assert config.notices.appeal_months == 6 and config.notices.keep_days_after_close == 30


def test_the_options_view_is_the_api_contract():
    view = parse_config(None).notices.view()
    assert set(view) == {"platforms", "content_kinds", "offences", "decisions"}
    assert [p["value"] for p in view["platforms"]] == ["facebook", "instagram", "snapchat", "tiktok", "x", "twitch",
                                                       "youtube", "roblox", "discord", "yubo", "autre"]
    assert view["platforms"][0] == {"value": "facebook", "label": "Facebook", "provider": "Meta Platforms Ireland Ltd"}
    assert [k["value"] for k in view["content_kinds"]] == ["compte", "publication", "message", "story", "video",
                                                           "live", "autre"]
    assert set(view["offences"][0]) == {"value", "label"} and view["offences"][0]["value"] == "226-2-1"
    assert [d["value"] for d in view["decisions"]] == list(DECISIONS)


def test_csam_and_solicitation_offences_exempt_the_notifier_identity():
    exempt = {o.value for o in DEFAULT_NOTICES.offences if o.csam_or_solicitation}
    assert exempt == {"227-22-1", "227-23"}


def test_a_key_left_out_keeps_its_built_in_value():
    config = parse_config({"notices": {
        "platforms": [{"value": "bereal", "label": "BeReal", "provider": "BeReal SAS", "reminder_hours": 12}],
        "notifier": {"email": "dsa@3018.fr"}, "keep_days_after_close": 0}})
    notices = config.notices
    assert [(p.value, p.provider, p.reminder_hours) for p in notices.platforms] == [("bereal", "BeReal SAS", 12)]
    assert notices.notifier_email == "dsa@3018.fr" and notices.notifier_name == DEFAULT_NOTICES.notifier_name
    assert notices.offences == DEFAULT_NOTICES.offences and notices.keep_days_after_close == 0
    one = parse_config({"notices": {"platforms": [{"value": "a", "label": "A", "provider": "A Ltd"}]}})
    assert one.notices.platforms[0].reminder_hours == 48


@pytest.mark.parametrize("section, key", [
    ({"appeal_months": 5}, "notices.appeal_months"),
    ({"appeal_months": "6"}, "notices.appeal_months"),
    ({"keep_days_after_close": -1}, "notices.keep_days_after_close"),
    ({"platforms": []}, "notices.platforms"),
    ({"platforms": [{"value": "Face Book", "label": "F", "provider": "M"}]}, "notices.platforms[0].value"),
    ({"platforms": [{"value": "fb", "label": "F"}]}, "notices.platforms[0].provider"),
    ({"platforms": [{"value": "fb", "label": "F", "provider": "M", "reminder_hours": 0}]},
     "notices.platforms[0].reminder_hours"),
    ({"platforms": [{"value": "fb", "label": "F", "provider": "M"}, {"value": "fb", "label": "G", "provider": "M"}]},
     "notices.platforms"),
    ({"offences": [{"value": "226 2 1", "label": "x"}]}, "notices.offences[0].value"),
    ({"offences": [{"value": "226-1", "label": "x", "csam_or_solicitation": "oui"}]},
     "notices.offences[0].csam_or_solicitation"),
    ({"decisions": [{"value": "bof", "label": "Bof"}]}, "notices.decisions[0].value"),
    ({"notifier": {"email": "pas une adresse"}}, "notices.notifier.email"),
    ({"notifier": {"phone": "0800"}}, "notices.notifier.phone"),
    ({"good_faith": ""}, "notices.good_faith"),
    ({"independance": "x"}, "notices.independance"),
])
def test_a_mistake_is_refused_with_its_key(section, key):
    with pytest.raises(ConfigError) as error:
        parse_config({"notices": section})
    assert error.value.key == key
