"""config.yaml: the shipped file is valid, and each mistake is named by its key."""

from pathlib import Path

import pytest

from gateway.app.cli import main
from gateway.domain.config import load_config, parse_config
from gateway.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_is_valid_and_uses_the_documented_keys():
    config = load_config(ROOT / "config.yaml")
    assert config.timezone == "Europe/Paris"
    assert config.store_url == "memory://"
    assert config.max_conversations_per_counsellor == 3
    assert "{next_opening}" in config.raw["messages"]["out_of_hours"]


def test_no_document_means_the_defaults_but_an_empty_file_is_refused(tmp_path):
    config = parse_config(None)  # tools and tests: no settings given
    assert config.max_conversations_per_counsellor == 3 and config.store_url == "memory://"
    empty = tmp_path / "config.yaml"
    empty.write_text("# nothing left\n")  # a file saved empty by mistake is not "all defaults"
    with pytest.raises(ConfigError) as error:
        load_config(empty)
    assert error.value.key == "(file)" and "empty" in error.value.problem


@pytest.mark.parametrize("doc, key", [
    ({"routing": {"max_conversations_per_counsellor": 0}}, "routing.max_conversations_per_counsellor"),
    ({"routing": {"max_conversations_per_counsellor": "3"}}, "routing.max_conversations_per_counsellor"),
    ({"routing": []}, "routing"),
    ({"store": {"url": "postgres://x"}}, "store.url"),
    ({"store": {"prefix": "a:b"}}, "store.prefix"),
    ({"opening_hours": {"monday": ["9h-20h"]}}, "opening_hours.monday[0]"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"messages": {"out_of_hours": "On rouvre {when}"}}, "messages.out_of_hours"),
    ({"messages": {"bonjour": "salut"}}, "messages.bonjour"),
    ({"messages": {"queued": "file {position"}}, "messages.queued"),
    ({"unknown_section": 1}, "unknown_section"),
    ({"limits": {"widget_mesages_per_minute": 20}}, "limits.widget_mesages_per_minute"),
    ({"http": {"widget_origins": ["https://www.3018.fr", "https://x.fr/page"]}}, "http.widget_origins[1]"),
    ({"messages": {"queued": "Tu es {position:>5000000}"}}, "messages.queued"),
    ({"store": {"wait_replicas": 6}}, "store.wait_replicas"),
])
def test_each_mistake_is_reported_with_its_key(doc, key):
    with pytest.raises(ConfigError) as error:
        parse_config(doc)
    assert error.value.key == key


def test_broken_yaml_says_where(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("opening_hours:\n  monday: [\"09:00-20:00\"\n")
    with pytest.raises(ConfigError) as error:
        load_config(bad)
    assert error.value.key == "(yaml)" and "line" in error.value.problem


def test_config_check_command_explains_the_error(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("routing: {max_conversations_per_counsellor: -1}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["config", "check", str(bad)])
    assert exit_.value.code == 1
    assert "routing.max_conversations_per_counsellor" in capsys.readouterr().out
    main(["config", "check", str(ROOT / "config.yaml")])
    assert "valid" in capsys.readouterr().out
