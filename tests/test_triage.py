"""Triage: teen spellings, whole words and prefixes, exceptions, priorities, config errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import ConfigError
from gateway.domain.triage import (
    DEFAULT_RULES,
    SPELLINGS,
    Triage,
    TriageMatch,
    TriageRule,
    normalise,
    parse_triage,
)

DEFAULT = parse_triage(None)
EXAMPLE_YAML = Path(__file__).resolve().parent.parent / "docs" / "triage.example.yaml"
RULES_YAML = Path(__file__).resolve().parent.parent / "gateway" / "domain" / "triage_rules.yaml"


def rule(name: str = "r", phrases: list[str] | None = None, priority: int = 2, **extra: object) -> dict:
    phrases = ["danger"] if phrases is None else phrases
    return {"name": name, "label": "Étiquette", "priority": priority, "phrases": phrases, **extra}


def triage(*rules: dict, **section: object) -> Triage:
    return parse_triage({"rules": list(rules), **section})


def rule_of(text: str, with_triage: Triage = DEFAULT) -> str | None:
    match = with_triage.assess(text)
    return match.rule if match else None


# --- normalise -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("J'AI ENVIE DE MOURIR", "je ai envie de mourir"),
    ("jveux mourirrr", "je veux mourir"),
    ("j'veux", "je veux"),
    ("jv", "je veux"),
    ("chuis à bout", "je suis a bout"),
    ("jsuis", "je suis"),
    ("jsui", "je suis"),
    ("j'suis", "je suis"),
    ("suis à bout", "je suis a bout"),
    ("je suis", "je suis"),
    ("tu me suis", "tu me suis"),
    ("jme", "je me"),
    ("jvais m'tuer", "je vais me tuer"),
    ("mtuer", "me tuer"),
    ("ke", "que"),
    ("k", "que"),
    ("koi", "quoi"),
    ("pk", "pourquoi"),
    ("pq", "pourquoi"),
    ("tt", "tout"),
    ("mtn", "maintenant"),
    ("nude nudes", "nude nudes"),
    ("Je ne veux plus", "je veux plus"),
    ("rendez-vous", "rendez vous"),
    ("rdv", "rendez vous"),
    ("Ça m’énerve, cœur brisé…", "ca me enerve coeur brise"),
    ("m0urir su1c1d3 m@lade t3$t", "mourir suicide malade test"),
    ("15 ans", "15 ans"),
    ("15ans 3018", "15ans 3018"),
    ("nonnnn!!!   ouiiii", "non oui"),
    ("", ""),
    ("  ?!  ", ""),
])
def test_teen_spellings_accents_and_punctuation_are_normalised(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_spelling_table_keys_are_written_as_normalised_words() -> None:
    for key, value in SPELLINGS.items():
        assert re.fullmatch(r"[a-z0-9]+", key), key
        assert re.fullmatch(r"([a-z0-9]+( [a-z0-9]+)*)?", value), key


# --- the built-in rules ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("jveux mourirrr", "suicide"),
    ("J'AI ENVIE DE MOURIR", "suicide"),
    ("chuis a bout jvais m tuer", "suicide"),
    ("j'ai plus envie de vivre", "suicide"),
    ("Je pense à me suicider", "suicide"),
    ("je veux disparaître", "suicide"),
    ("jme scarifie", "automutilation"),
    ("je me fais du mal le soir", "automutilation"),
    ("il va publier mes nudes si j'paye pas", "sextorsion"),
    ("il me fait du chantage", "sextorsion"),
    ("sinon il envoie tout à mes parents", "sextorsion"),
    ("il veut de l'argent sur un coupon PCS", "sextorsion"),
    ("un mec de 30 ans veut me rencontrer en vrai", "rencontre_adulte"),
    ("il m'a donné rdv samedi", "rencontre_adulte"),
    ("il m'a dit de rien dire à personne", "rencontre_adulte"),
    ("mes parents vont me tuer s'ils voient ça", "menaces"),
    ("il sait où j'habite", "menaces"),
])
def test_default_rules_recognise_danger_as_teens_write_it(text: str, expected: str) -> None:
    assert rule_of(text) == expected


@pytest.mark.parametrize("text", [
    "mdr j'suis morte de rire",
    "je vais mourir de rire mdr",
    "je vais être morte de rire",
    "je crève de faim",
    "comment faire disparaître la vidéo ?",
    "il veut toujours me couper la parole",
    "j'ai rendez-vous avec le psy jeudi",
    "la tuerie dans le film",
    "j'ai 15 ans",
    "bonjour, j'ai une question sur mon compte insta",
])
def test_ordinary_words_and_jokes_are_not_raised(text: str) -> None:
    assert DEFAULT.assess(text) is None


def test_an_exception_cancels_only_the_words_it_overlaps() -> None:
    # "mdr" must not hide distress: only "mourir de rire" is cancelled, not the message.
    assert rule_of("je vais mourir de rire") is None
    assert rule_of("mdr jveux mourir") == "suicide"
    assert rule_of("je vais mourir de rire… non sérieux je veux mourir") == "suicide"


def test_someone_elses_threat_is_reported_as_a_threat_not_as_suicidal_thoughts() -> None:
    assert rule_of("il va me tuer") == "menaces"
    assert rule_of("il veut me faire du mal") == "menaces"
    assert rule_of("je vais me tuer") == "suicide"


def test_reason_names_the_label_and_the_matched_words() -> None:
    match = DEFAULT.assess("J'AI ENVIE DE MOURIR")
    assert match == TriageMatch("suicide", "Idées suicidaires", "envie de mourir", 3, "psychologue",
                                "envie de mourir")
    assert match.reason == "Idées suicidaires (« envie de mourir »)"


def test_prefix_phrase_reason_shows_the_word_the_teen_wrote() -> None:
    match = DEFAULT.assess("je suis suicidaire")
    assert match is not None and match.phrase == "suicid*"
    assert match.reason == "Idées suicidaires (« suicidaire »)"


def test_suicide_and_self_harm_require_a_psychologist() -> None:
    assert DEFAULT.assess("je veux mourir").skill == "psychologue"
    assert DEFAULT.assess("jme scarifie").skill == "psychologue"
    assert DEFAULT.assess("il me fait du chantage").skill is None


def test_the_shipped_rules_file_holds_the_built_in_rules() -> None:
    section = yaml.safe_load(RULES_YAML.read_text(encoding="utf-8"))
    assert parse_triage(section).rules == DEFAULT.rules
    assert [r.name for r in DEFAULT.rules] == [r["name"] for r in DEFAULT_RULES]
    assert len(DEFAULT.rules) >= 4


def test_the_built_in_rules_are_pinned_so_a_careless_edit_of_the_yaml_fails() -> None:
    assert [(r.name, r.priority, r.skill, len(r.phrases), len(r.excepts)) for r in DEFAULT.rules] == [
        ("suicide", 3, "psychologue", 33, 15),
        ("automutilation", 3, "psychologue", 13, 7),
        ("sextorsion", 2, None, 60, 0),
        ("rencontre_adulte", 2, None, 22, 2),
        ("menaces", 2, None, 17, 0),
    ]
    for text, rule_name, priority, skill in [
        ("j'ai envie de mourir", "suicide", 3, "psychologue"),
        ("jme scarifie le soir", "automutilation", 3, "psychologue"),
        ("il menace de diffuser mes nudes", "sextorsion", 2, None),
        ("il veut payer en paysafecard", "sextorsion", 2, None),
        ("c'est un adulte, il veut me rencontrer", "rencontre_adulte", 2, None),
        ("il sait où j'habite", "menaces", 2, None),
        ("je vais mourir de rire", None, None, None),
    ]:
        match = DEFAULT.assess(text)
        found = (match.rule, match.priority, match.skill) if match else (None, None, None)
        assert found == (rule_name, priority, skill), text


def test_the_docs_example_extends_the_built_in_rules_without_copying_them() -> None:
    section = yaml.safe_load(EXAMPLE_YAML.read_text(encoding="utf-8"))["triage"]
    assert "rules" not in section
    example = parse_triage(section)
    assert example.rules[:len(DEFAULT.rules)] == DEFAULT.rules
    assert [r.name for r in example.rules[len(DEFAULT.rules):]] == ["harcelement"]
    assert rule_of("on me harcèle au collège", example) == "harcelement"
    assert rule_of("envie de kms", example) == "suicide"  # its spellings reach the built-in rules


def test_extra_rules_come_after_the_rules_in_force_and_never_repeat_a_name() -> None:
    extended = parse_triage({"extra_rules": [rule("danger_x", ["danger"], priority=1)]})
    assert [r.name for r in extended.rules] == [*(r.name for r in DEFAULT.rules), "danger_x"]
    replaced = parse_triage({"rules": [rule("a")], "extra_rules": [rule("b", ["peur"])]})
    assert [r.name for r in replaced.rules] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"duplicate rule name 'suicide' \(also a rule it extends\)") as raised:
        parse_triage({"extra_rules": [rule("suicide")]})
    assert raised.value.key == "triage.extra_rules[0].name"
    with pytest.raises(ConfigError) as raised:
        parse_triage({"extra_rules": []})
    assert raised.value.key == "triage.extra_rules"


# --- matching --------------------------------------------------------------------------------


def test_phrases_match_whole_words_only() -> None:
    words = triage(rule(phrases=["tuer", "en finir"]))
    assert rule_of("tuer", words) == "r"
    assert rule_of("la tuerie", words) is None
    assert rule_of("il est tuer", words) == "r"
    assert rule_of("j'veux en finir", words) == "r"
    assert rule_of("ben finir", words) is None
    assert rule_of("en finirons", words) is None


def test_star_ends_a_word_with_any_ending() -> None:
    prefix = triage(rule(phrases=["suicid*", "mort* de peur"]))
    for text in ("suicide", "se suicider", "SUICIDAIRE", "suicidé"):
        assert rule_of(text, prefix) == "r", text
    assert rule_of("anti-suicide", prefix) == "r"  # the hyphen is a space: "suicide" is a word
    assert rule_of("antisuicide", prefix) is None
    assert rule_of("morte de peur", prefix) == "r"
    assert rule_of("morte de rire", prefix) is None


def test_highest_priority_rule_wins_and_ties_go_to_the_first_rule() -> None:
    rules = triage(
        rule("low", ["danger"], priority=1),
        rule("high", ["peur"], priority=5, skill="psychologue"),
        rule("high_too", ["peur", "danger"], priority=5),
    )
    match = rules.assess("danger, j'ai peur")
    assert (match.rule, match.priority, match.skill) == ("high", 5, "psychologue")
    assert rules.assess("danger").rule == "high_too"


def test_disabled_triage_never_matches() -> None:
    off = parse_triage({"enabled": False})
    assert off.assess("je veux mourir") is None
    assert off.rules == DEFAULT.rules  # still validated, ready to turn on


def test_custom_spellings_extend_the_table_for_messages_and_phrases() -> None:
    custom = triage(rule(phrases=["me tuer"]), spellings={"kms": "me tuer", "chépa": "je sais pas"})
    assert custom.normalise("Chépa jvais KMS") == "je sais pas je vais me tuer"
    assert rule_of("envie de kms", custom) == "r"
    assert rule_of("envie de kms", triage(rule(phrases=["me tuer"]))) is None
    # Built-in rules follow the extra spellings too.
    assert rule_of("envie de kms", parse_triage({"spellings": {"kms": "me tuer"}})) == "suicide"


def test_empty_spelling_drops_a_word() -> None:
    assert triage(rule(), spellings={"genre": ""}).normalise("genre je veux") == "je veux"


def test_triage_built_from_rules_directly() -> None:
    direct = Triage([TriageRule("r", "Étiquette", ("me tuer",), 4, None)])
    assert direct.assess("jvais m'tuer").reason == "Étiquette (« me tuer »)"
    assert Triage().assess("je veux mourir") is None


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_normalise_and_assess_never_crash(text: str) -> None:
    words = normalise(text)
    assert words == " ".join(words.split())
    assert set(words) <= set("abcdefghijklmnopqrstuvwxyz0123456789 ")
    assert normalise(words) == words
    match = DEFAULT.assess(text)
    assert match is None or isinstance(match, TriageMatch)


# --- config errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "key"), [
    (["rules"], "triage"),
    ({"rulez": []}, "triage.rulez"),
    ({"enabled": "yes"}, "triage.enabled"),
    ({"spellings": ["jveu"]}, "triage.spellings"),
    ({"spellings": {"j veu": "je veux"}}, "triage.spellings.j veu"),
    ({"spellings": {"!!": "je"}}, "triage.spellings.!!"),
    ({"spellings": {"jveu": 3}}, "triage.spellings.jveu"),
    ({"spellings": {"jveu": "?!"}}, "triage.spellings.jveu"),
    ({"rules": []}, "triage.rules"),
    ({"rules": None}, "triage.rules"),
    ({"rules": "suicide"}, "triage.rules"),
    ({"rules": [rule(), "x"]}, "triage.rules[1]"),
    ({"rules": [rule(colour="red")]}, "triage.rules[0].colour"),
    ({"rules": [{"label": "L", "priority": 1, "phrases": ["a b"]}]}, "triage.rules[0].name"),
    ({"rules": [rule(name="Suicide grave")]}, "triage.rules[0].name"),
    ({"rules": [rule("a"), rule("b"), rule("a")]}, "triage.rules[2].name"),
    ({"rules": [rule(label="")]}, "triage.rules[0].label"),
    ({"rules": [rule(label="x" * 81)]}, "triage.rules[0].label"),
    ({"rules": [{"name": "r", "label": "L", "phrases": ["a b"]}]}, "triage.rules[0].priority"),
    ({"rules": [rule(priority=0)]}, "triage.rules[0].priority"),
    ({"rules": [rule(priority=10)]}, "triage.rules[0].priority"),
    ({"rules": [rule(priority=True)]}, "triage.rules[0].priority"),
    ({"rules": [rule(priority="3")]}, "triage.rules[0].priority"),
    ({"rules": [rule(skill="")]}, "triage.rules[0].skill"),
    ({"rules": [rule(skill=["psychologue"])]}, "triage.rules[0].skill"),
    ({"rules": [{"name": "r", "label": "L", "priority": 1}]}, "triage.rules[0].phrases"),
    ({"rules": [rule(phrases=[])]}, "triage.rules[0].phrases"),
    ({"rules": [rule(), rule("b", ["un", "deux", "trois", ""])]}, "triage.rules[1].phrases[3]"),
    ({"rules": [rule(phrases=["ok", "   "])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "?!…"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "ne"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", 42])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", False])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["Je veux mourir", "j'veux mourir"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "sui*cide"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "*cide"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "de *"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "me*"])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok", "très " * 30])]}, "triage.rules[0].phrases[1]"),
    ({"rules": [rule(phrases=["ok"], **{"except": "mdr"})]}, "triage.rules[0].except"),
    ({"rules": [rule(phrases=["ok"], **{"except": ["mdr", ""]})]}, "triage.rules[0].except[1]"),
    ({"rules": [rule(phrases=["ok"], **{"except": ["OK!"]})]}, "triage.rules[0].except[0]"),
])
def test_every_config_problem_names_its_exact_key(section: object, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_triage(section)
    assert raised.value.key == key
    assert raised.value.problem


def test_config_problems_read_clearly_for_an_admin() -> None:
    with pytest.raises(ConfigError, match=r"same phrase as phrases\[0\] once normalised"):
        parse_triage({"rules": [rule(phrases=["Je veux mourir", "j'veux mourir"])]})
    with pytest.raises(ConfigError, match=r"duplicate rule name 'a' \(also rules\[0\]\)"):
        parse_triage({"rules": [rule("a"), rule("a")]})
    with pytest.raises(ConfigError, match="between 1 and 9"):
        parse_triage({"rules": [rule(priority=12)]})
    with pytest.raises(ConfigError, match="quote it"):
        parse_triage({"rules": [rule(phrases=[False])]})
    with pytest.raises(ConfigError, match="unknown key in a rule; known: except, label, name"):
        parse_triage({"rules": [rule(phrase=["x"])]})
