"""config.yaml validated whole by one strict schema: every bad file is refused with the key and
the reason, and `config check` and the live reload say exactly the same thing about it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.app.cli import main
from gateway.app.config_watch import ConfigWatcher
from gateway.domain.config import MAX_FILE_BYTES, load_config, parse_config
from gateway.domain.errors import ConfigError
from tests.processes import ALWAYS_OPEN

GOOD = {"store": {"url": "memory://", "prefix": "3018"}, "opening_hours": ALWAYS_OPEN,
        "http": {"widget_origins": ["https://www.3018.fr"]}}
GOOD_TEXT = yaml.safe_dump(GOOD, allow_unicode=True)


def doc(**changes) -> bytes:
    return yaml.safe_dump({**GOOD, **changes}, allow_unicode=True).encode()


def rule(name: str = "harcelement", phrases: int = 1) -> dict:
    return {"name": name, "label": "Harcèlement", "priority": 1, "phrases": [f"harcel{i}" for i in range(phrases)]}


# (case, file bytes, the key named, words of the reason)
BAD_FILES = [
    ("empty", b"", "(file)", "empty"),
    ("only comments", b"# tout a disparu\n", "(file)", "empty"),
    ("truncated mid-list", GOOD_TEXT.encode()[:-30] + b"\nx: [\"0", "(yaml)", "line"),
    ("truncated after a section", b"store:\n  url: memory://\nhttp:\n", "http", "empty section"),
    ("not UTF-8", "timezone: Europe/Paris\n# fermé\n".encode("latin-1"), "(file)", "UTF-8"),
    ("oversized", GOOD_TEXT.encode() + b"#" * MAX_FILE_BYTES, "(file)", "256 KiB"),
    ("a top-level list", b"- store\n", "(top level)", "mapping"),
    ("misspelt nested key", doc(limits={"widget_mesages_per_minute": 20}), "limits.widget_mesages_per_minute",
     "unknown key; known: dedupe_ttl_seconds"),
    ("misspelt key in a rule", doc(triage={"extra_rules": [{**rule(), "phrasez": ["x"]}]}),
     "triage.extra_rules[0].phrasez", "unknown key"),
    ("a format spec", doc(messages={"queued": "Tu es {position:>5000000} dans la file"}), "messages.queued",
     "plain {position}"),
    ("a conversion", doc(messages={"assigned": "{counsellor!r} est là"}), "messages.assigned", "plain {counsellor}"),
    ("an attribute", doc(messages={"queued": "{position.__class__}"}), "messages.queued", "unknown placeholder"),
    ("a field the message does not know", doc(messages={"out_of_hours": "On rouvre {when}"}),
     "messages.out_of_hours", "allowed: {next_opening}"),
    ("too many closures", doc(closures=[{"date": "2026-12-25"} for _ in range(751)]), "closures", "at most 750"),
    ("too many rules", doc(triage={"extra_rules": [rule(f"r{i}") for i in range(51)]}), "triage.extra_rules",
     "at most 50"),
    ("too many phrases", doc(triage={"extra_rules": [rule(phrases=301)]}), "triage.extra_rules[0].phrases",
     "at most 300"),
    ("too many origins", doc(http={"widget_origins": [f"https://s{i}.fr" for i in range(51)]}),
     "http.widget_origins", "at most 50"),
    ("too many slots", doc(opening_hours={"monday": [f"{h:02d}:00-{h:02d}:30" for h in range(24)] + ["23:40-23:50"]}),
     "opening_hours.monday", "at most 24"),
    ("a key given twice", GOOD_TEXT.encode() + b"store: {url: 'memory://'}\n", "(yaml)", "given twice"),
    ("an alias", b"opening_hours: &week {monday: []}\nx: *week\n", "(yaml)", "aliases"),
    ("yes for a number", b"routing: {max_conversations_per_counsellor: yes}\n",
     "routing.max_conversations_per_counsellor", "whole number"),
    ("a number as text", doc(limits={"max_message_chars": "2000"}), "limits.max_message_chars", "whole number"),
    ("wait_replicas out of range", doc(store={**GOOD["store"], "wait_replicas": 9}), "store.wait_replicas",
     "between 0 and 5, got 9"),
    ("a Sentinel URL without port", doc(store={**GOOD["store"], "url": "redis+sentinel://s1/gateway"}),
     "store.url", "MASTER_NAME"),
]


@pytest.mark.parametrize("data, key, words", [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES])
async def test_config_check_and_the_live_reload_refuse_each_bad_file_alike(tmp_path, capsys, data, key, words):
    path = tmp_path / "config.yaml"
    path.write_bytes(GOOD_TEXT.encode())
    applied: list = []
    watcher = ConfigWatcher(path, load_config(path), applied.append)
    path.write_bytes(data)

    with pytest.raises(SystemExit) as exit_:
        main(["config", "check", str(path)])
    told = capsys.readouterr().out.splitlines()
    assert await watcher.check_now(force=True) is False

    assert exit_.value.code == 1 and told[0] == f"{path}: invalid"
    status = watcher.state()
    assert told[1].strip() == status["error"]  # the same verdict, word for word
    assert status["error"].startswith(f"{key}: ") and words in status["error"]
    assert status["matches_disk"] is False and applied == []
    assert watcher.config.widget_origins == ("https://www.3018.fr",)  # the last good one stays


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    huge = tmp_path / "config.yaml"
    huge.write_text("closures:\n" + "  - date: 2026-12-25\n" * 300_000)  # ~6 MB: the 82 s freeze
    with pytest.raises(ConfigError) as error:
        load_config(huge)
    assert error.value.key == "(file)" and f"at most {MAX_FILE_BYTES}" in error.value.problem


def test_each_list_at_its_bound_is_accepted():
    config = parse_config({
        "closures": [{"date": "2026-12-25"}] * 750,
        "http": {"widget_origins": [f"https://s{i}.fr" for i in range(50)]},
        "triage": {"extra_rules": [rule(f"r{i}") for i in range(49)] + [rule("last", phrases=300)]},
    })
    assert len(config.schedule.closures) == 750 and len(config.widget_origins) == 50
    assert len(config.triage.rules) == 5 + 50


@pytest.mark.parametrize("url", [
    "redis+sentinel://s1:26379/gateway",
    "redis+sentinel://s1:26379,s2:26380,[::1]:26381/gateway/2",
    "redis+sentinel://:secret@s1:26379/gateway",
])
def test_a_sentinel_url_and_wait_replicas_are_read(url):
    config = parse_config({"store": {"url": url, "wait_replicas": 1}})
    assert (config.store_url, config.store_wait_replicas) == (url, 1)
    assert parse_config({}).store_wait_replicas == 0


@pytest.mark.parametrize("url", ["redis+cluster://n1:7000", "redis+cluster://:secret@n1:7000,[::1]:7001,n3:7002/"])
def test_a_cluster_url_is_read_and_refused_with_wait_replicas(url, monkeypatch):
    assert parse_config({"store": {"url": url}}).store_url == url
    with pytest.raises(ConfigError) as refused:
        parse_config({"store": {"url": url, "wait_replicas": 1}})
    assert refused.value.key == "store.wait_replicas" and "redis+cluster://" in refused.value.problem
    monkeypatch.setenv("GATEWAY_STORE_URL", url)  # the environment's URL meets the file's wait_replicas
    with pytest.raises(ConfigError, match="wait_replicas"):
        parse_config({"store": {"url": "redis://r:6379/0", "wait_replicas": 1}})
    for bad in ("redis+cluster://n1", "redis+cluster://n1:7000/0", "redis+cluster://"):
        with pytest.raises(ConfigError, match="redis\\+cluster://HOST:PORT"):
            parse_config({"store": {"url": bad}})


def test_the_store_url_from_the_environment_is_held_to_the_same_shape(monkeypatch):
    monkeypatch.setenv("GATEWAY_STORE_URL", "redis+sentinel://s1:26379,s2:26379/gateway")
    assert parse_config({}).store_url == "redis+sentinel://s1:26379,s2:26379/gateway"
    assert parse_config({"store": {"url": "memory://"}}).store_url == "redis+sentinel://s1:26379,s2:26379/gateway"
    monkeypatch.setenv("GATEWAY_STORE_URL", "postgres://app:hunter2@db/x")
    with pytest.raises(ConfigError) as error:
        parse_config({})
    assert error.value.key == "store.url" and "GATEWAY_STORE_URL" in error.value.problem
    assert "hunter2" not in str(error.value)  # a refusal never repeats a password


def test_a_yaml_boolean_key_is_named_as_written():
    with pytest.raises(ConfigError) as error:
        parse_config({True: "`on:` read as a key"})
    assert error.value.key == "True"


def test_every_default_comes_from_config(tmp_path: Path):
    """An absent key keeps Config's default; an explicit null is refused, not read as absent."""
    from gateway.domain.config import Config

    assert parse_config({"limits": {}}).max_message_chars == Config.max_message_chars
    with pytest.raises(ConfigError) as error:
        parse_config({"limits": {"max_message_chars": None}})
    assert error.value.key == "limits.max_message_chars"
