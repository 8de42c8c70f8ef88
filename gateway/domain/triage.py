"""Triage: which waiting conversations show danger, and why. Pure logic, no I/O.

Owns the `triage` section of config.yaml and the built-in rules (triage_rules.yaml): a French
word and phrase list per rule (suicidal thoughts, self-harm, sextortion, an adult who wants to
meet…), matched on normalised text so "J'VEUX MOURIRRR", "jveux mourir" and "je veux mourir"
read the same. A match raises the
conversation's priority (higher goes first; ordinary conversations are 0), may require a
counsellor skill, and carries a short French reason for the console.

Phrase syntax (after normalisation, see `normalise`): whole words only, so "tuer" does not
match "tuerie"; a `*` ending a word matches any ending ("suicid*": suicide, suicidaire…).
A rule's optional `except` phrases cancel only the matches they overlap: "mourir de rire"
cancels the "je vais mourir" inside "je vais mourir de rire", never the whole message,
because a teen who writes "jveux mourir mdr" may hide real distress behind the "mdr".

This is a keyword list, not a clinician: it only orders the queue. It misses what it was not
told, and a conversation it does not raise is still answered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from gateway.domain.errors import ConfigError
from gateway.domain.model import Author, Message

# Teen/SMS spellings → standard words, applied word by word after accents and punctuation are
# gone (so keys are written without them). Values may be several words, or "" to drop the word.
# Extended by config (`triage.spellings`). Besides this table, two rules in `_respell`:
# "j" glued to a consonant is "je" ("jveux", "jme", "jvais"), and a bare "suis" gets its "je".
SPELLINGS: Mapping[str, str] = MappingProxyType({
    # je, j', ai
    "j": "je", "jv": "je veux", "chuis": "je suis", "chui": "je suis", "chu": "je suis",
    "jss": "je suis", "jai": "je ai", "g": "je ai", "jen": "je en", "jetais": "je etais",
    "javais": "je avais", "jpp": "je en peux plus", "jsp": "je sais pas",
    "veu": "veux", "vx": "veux", "px": "peux",
    # me, m'
    "m": "me", "mtuer": "me tuer", "mtue": "me tue", "mfaire": "me faire", "mcouper": "me couper",
    "mcoupe": "me coupe",
    # French writing drops "ne" anyway ("j'veux pas"): dropping it lets one phrase cover both.
    "ne": "", "n": "",
    # que, quoi, pourquoi, parce que
    "ke": "que", "k": "que", "qu": "que", "koi": "quoi", "kwa": "quoi", "pk": "pourquoi",
    "pq": "pourquoi", "pkoi": "pourquoi", "pcq": "parce que", "pck": "parce que",
    "psk": "parce que", "pask": "parce que",
    # everyday abbreviations
    "tt": "tout", "tte": "toute", "tts": "tous", "ttes": "toutes", "mtn": "maintenant",
    "mnt": "maintenant", "tjr": "toujours", "tjrs": "toujours", "bcp": "beaucoup",
    "qqn": "quelqu un", "qqun": "quelqu un", "kelkun": "quelqu un", "ya": "il y a",
    "pr": "pour", "ds": "dans", "dc": "donc", "pa": "pas", "plu": "plus", "envi": "envie",
    "jame": "jamais", "ct": "c etait", "stp": "s il te plait", "svp": "s il vous plait",
    "largent": "l argent", "darons": "parents",
    # the words of danger, as they are often misspelt
    "mourrir": "mourir", "mourire": "mourir", "sucide": "suicide", "suiside": "suicide",
    "menasse": "menace", "menase": "menace",
    # images and meetings
    "tof": "photo", "tofs": "photos", "foto": "photo", "fotos": "photos", "nud": "nude",
    "nuds": "nudes", "nudz": "nudes", "vid": "video", "vids": "videos", "rdv": "rendez vous",
    "irl": "en vrai",
})

# A bare "suis" means "je suis" ("suis a bout") unless a pronoun already stands before it.
_SUIS = frozenset({"suis", "sui"})
_BEFORE_SUIS = frozenset({"je", "tu", "me", "te", "le", "la", "les", "nous", "vous", "lui", "en", "y"})
_J_GLUED = re.compile(r"j([bcdfghklmnpqrstvwxz][a-z]+)")  # no French word starts so: "jveux"
_LEET_HINT = re.compile(r"[0-9@$]")
_LEET_TOKEN = re.compile(r"(?<![a-z0-9@$])[a-z0-9@$]*[0-9@$][a-z0-9@$]*")  # with a digit, @ or $
# A lone digit in a word stands for a letter ("m0urir"); a run of digits is a number ("15ans").
_LEET_CHAR = re.compile(r"(?<![0-9])[0134](?![0-9])|[@$]")
_LEET = {"4": "a", "3": "e", "0": "o", "1": "i", "@": "a", "$": "s"}
_LETTER = re.compile(r"[a-z]")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_REPEATED = re.compile(r"([a-z])\1{2,}")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o"})
# After NFKD: the combining accents of Latin text, and invisible format characters (zero-width
# space, soft hyphen…) that would otherwise split a word. Other marks become spaces later.
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
                    r"\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")

PRIORITY_RANGE = range(1, 10)
_RULE_KEYS = frozenset({"name", "label", "priority", "skill", "phrases", "except"})
_SECTION_KEYS = frozenset({"enabled", "spellings", "rules", "extra_rules"})
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_MAX_LABEL = 80
_MIN_PREFIX = 3  # "a*" would match half the dictionary
_MAX_PHRASE = 100  # characters, normalised: a phrase is a few words, not a paragraph
# Bounds on the lists (issue #10): every message is matched against every phrase, so an
# unbounded list would slow each teen's message. The built-in rules use 5 rules, 60 phrases.
_MAX_RULES = 50  # in `rules`, and again in `extra_rules`
_MAX_PHRASES = 300  # per rule, in `phrases` and again in `except`
_MAX_SPELLINGS = 1000


# --- normalisation ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lowercase, no accents, no invisible format characters."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()  # NFKD first: "ℌ" is an "H"
    return _MARKS.sub("", text.translate(_LIGATURES))


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    if not _LETTER.search(token):
        return token  # "15", "3018": numbers stay numbers
    return _LEET_CHAR.sub(lambda m: _LEET[m.group()], token)


def _words(text: str) -> str:
    """Everything but the spelling table: fold, leetspeak, punctuation, repeated letters."""
    text = _fold(text)
    if _LEET_HINT.search(text):
        text = _LEET_TOKEN.sub(_unleet, text)
    return _REPEATED.sub(r"\1", _NON_WORD.sub(" ", text)).strip()


def _respell(word: str, out: list[str], spellings: Mapping[str, str]) -> None:
    if word in spellings:
        out.extend(spellings[word].split())
    elif word in _SUIS:
        if not out or out[-1] not in _BEFORE_SUIS:
            out.append("je")
        out.append("suis")
    elif glued := _J_GLUED.fullmatch(word):
        out.append("je")
        _respell(glued.group(1), out, spellings)  # never glued again: the rest starts without j
    else:
        out.append(word)


def normalise(text: str, spellings: Mapping[str, str] = SPELLINGS) -> str:
    """Lowercase words of a-z and 0-9, single spaces, teen spellings written out.

    "J'veux mourirrr!!" → "je veux mourir"; "15 ans" stays "15 ans".
    """
    out: list[str] = []
    for word in _words(text).split():
        _respell(word, out, spellings)
    return " ".join(out)


# --- rules and matches -----------------------------------------------------------------------


@dataclass(frozen=True)
class TriageRule:
    """One danger: its phrases and exceptions, normalised at load time."""

    name: str
    label: str  # short French explanation for counsellors: "Idées suicidaires"
    phrases: tuple[str, ...]
    priority: int  # 1..9, higher goes first; ordinary conversations are 0
    skill: str | None = None  # a counsellor skill the conversation then requires
    excepts: tuple[str, ...] = ()  # `except` in config.yaml


@dataclass(frozen=True)
class TriageMatch:
    """Why a message raised its conversation. `matched`: the message's words that matched."""

    rule: str
    label: str
    phrase: str
    priority: int
    skill: str | None
    matched: str = ""

    @property
    def reason(self) -> str:
        """For the console: 'Idées suicidaires (« envie de mourir »)'.

        Shows the matched words (they differ from the phrase only for a `*` phrase: the
        counsellor reads « suicidaire », not « suicid* »), never more of the message.
        """
        return f"{self.label} (« {self.matched or self.phrase} »)"


_END = ""  # trie key marking the end of a phrase
_WORD_END = "(?![a-z0-9])"  # normalised text is words of [a-z0-9] and single spaces


def _atoms(phrase: str) -> list[str]:
    """A phrase as trie keys: one per character, "*" for any end of word."""
    atoms: list[str] = []
    for word in phrase.split():
        atoms += [" "] if atoms else []
        atoms += [*word[:-1], "*"] if word.endswith("*") else [*word]
    return atoms


def _trie_regex(node: dict[str, dict]) -> str:
    alternatives = [
        _WORD_END if atom == _END else ("[a-z0-9]*" if atom == "*" else re.escape(atom)) + _trie_regex(child)
        for atom, child in node.items()
    ]
    return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"


def _scanner(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a rule: matches (empty) at each word where one of its phrases starts.

    The phrases are merged into a trie ("me tuer", "me suicider" → "me (?:tuer|suicider)"): the
    regex engine tries alternatives one by one, and this is ~8 times faster than a flat list
    on a long message. A lookahead, so matches may overlap and an exception cannot hide one.
    """
    root: dict[str, dict] = {}
    for phrase in phrases:
        node = root
        for atom in _atoms(phrase):
            node = node.setdefault(atom, {})
        node[_END] = {}
    return re.compile(f"(?<![a-z0-9])(?={_trie_regex(root)})")


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = (re.escape(w[:-1]) + "[a-z0-9]*" if w.endswith("*") else re.escape(w) for w in phrase.split())
    return re.compile(" ".join(words) + _WORD_END)


class _PhraseList:
    """A rule's phrases (or exceptions), compiled: the scanner finds where, then each phrase's
    own pattern, tried only there, says which ones and how far."""

    def __init__(self, phrases: tuple[str, ...]):
        self.scanner = _scanner(phrases)
        self.each = tuple((phrase, _phrase_pattern(phrase)) for phrase in phrases)

    def matches(self, words: str) -> Iterator[list[tuple[int, int, str]]]:
        """Per word where some phrase starts: (start, end, phrase) of each, longest first."""
        for hit in self.scanner.finditer(words):
            start = hit.start()
            found = [(start, m.end(), phrase)
                     for phrase, pattern in self.each if (m := pattern.match(words, start))]
            yield sorted(found, key=lambda f: f[0] - f[1])  # stable: config order among equals


def _continuations(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """What a line must start with to finish a phrase begun on the lines before it: the
    phrases' word-suffixes ("envie de mourir" → "de mourir", "mourir"), matched at the start
    only. None: every phrase is one word, no phrase can span two lines."""
    root: dict[str, dict] = {}
    for phrase in phrases:
        words = phrase.split()
        for start in range(1, len(words)):
            node = root
            for atom in _atoms(" ".join(words[start:])):
                node = node.setdefault(atom, {})
            node[_END] = {}
    return re.compile(_trie_regex(root)) if root else None


class _CompiledRule:
    def __init__(self, rule: TriageRule):
        self.rule = rule
        self.phrases = _PhraseList(rule.phrases)
        self.excepts = _PhraseList(rule.excepts) if rule.excepts else None
        self.continuations = _continuations(rule.phrases)

    def first_match(self, words: str) -> TriageMatch | None:
        """The first place the rule matches and no exception overlaps; its longest phrase."""
        cancelled = [(s, e) for found in self.excepts.matches(words) for s, e, _ in found] if self.excepts else []
        rule = self.rule
        for found in self.phrases.matches(words):
            for start, end, phrase in found:
                if not any(start < c_end and c_start < end for c_start, c_end in cancelled):
                    matched = words[start:end]
                    return TriageMatch(rule.name, rule.label, phrase, rule.priority, rule.skill, matched)
        return None


class Triage:
    """The configured rules; `assess` is called on every message a teen sends."""

    def __init__(self, rules: Iterable[TriageRule] = (), *, spellings: Mapping[str, str] = SPELLINGS,
                 enabled: bool = True):
        self.rules = tuple(rules)
        self._table = dict(spellings)  # a plain dict: looked up for every word of every message
        self.spellings: Mapping[str, str] = MappingProxyType(self._table)
        self.enabled = enabled
        self._compiled = tuple(_CompiledRule(rule) for rule in self.rules if rule.phrases)

    def normalise(self, text: str) -> str:
        return normalise(text, self._table)

    @property
    def top_priority(self) -> int:
        """The highest priority a match can bring (0: nothing can ever be raised)."""
        if not self.enabled:
            return 0
        return max((compiled.rule.priority for compiled in self._compiled), default=0)

    def assess(self, text: str) -> TriageMatch | None:
        """The highest-priority rule the text matches (ties: the first rule), or None."""
        if not self.enabled or not self._compiled:
            return None
        return self._assess_words(self.normalise(text))

    def assess_normalised(self, words: str) -> TriageMatch | None:
        """`assess` of a text already normalised (`normalise`): the intake normalises once."""
        if not self.enabled or not self._compiled:
            return None
        return self._assess_words(words)

    def assess_lines(self, lines: Sequence[str], normalised: Mapping[str, str] | None = None) -> TriageMatch | None:
        """A teen's recent lines read together, as words: "j'ai envie" then "de mourir" reads
        "je ai envie de mourir". Each line is normalised alone (a spelling never spans two
        lines), then joined with a space; which lines are recent: `recent_teen_lines`.
        `normalised`: lines whose words are known already (text → words), not redone."""
        if not self.enabled or not self._compiled:
            return None
        known = normalised or {}
        each = (known[line] if line in known else self.normalise(line) for line in lines)
        return self._assess_words(" ".join(words for words in each if words))

    def may_finish_a_phrase(self, words: str, above: int) -> bool:
        """Whether a new line (its normalised words) could complete a phrase of a rule of
        priority above `above` begun on the lines before it: it starts with the rest of one.
        If not, reading it with those lines can only find what was found when they came."""
        if not self.enabled or not words:
            return False
        return any(compiled.rule.priority > above and compiled.continuations is not None
                   and compiled.continuations.match(words) is not None for compiled in self._compiled)

    def _assess_words(self, words: str) -> TriageMatch | None:
        best: TriageMatch | None = None
        for compiled in self._compiled:
            if best is not None and compiled.rule.priority <= best.priority:
                continue  # cannot win: ties go to the earlier rule
            best = compiled.first_match(words) or best
        return best

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"Triage({state}, rules={[r.name for r in self.rules]})"


# --- a teen's recent lines --------------------------------------------------------------------
# A teen in distress often writes in bursts ("j'ai envie" / "de mourir"): the intake also reads
# the new line with the few before it. Few and close in time, so that two unrelated messages an
# hour apart never make a phrase together.
RECENT_TEEN_LINES = 3  # the new line and the two before it
RECENT_WINDOW_SECONDS = 600.0  # ... written within the last 10 minutes
LINES_READ_BACK = 12  # lines of history read to find them (counsellors' lines and notes between)


def recent_teen_lines(history: Iterable[Message], now: float) -> list[str]:
    """The texts `assess_lines` reads: the teen's last RECENT_TEEN_LINES lines of `history`
    (in seq order) written within RECENT_WINDOW_SECONDS of `now`."""
    recent = [m.text for m in history if m.author is Author.TEEN and now - m.at <= RECENT_WINDOW_SECONDS]
    return recent[-RECENT_TEEN_LINES:]


# --- config.yaml -----------------------------------------------------------------------------


def _text(value: Any, key: str, what: str) -> str:
    if isinstance(value, bool):
        raise ConfigError(key, f"must be {what}; quote it: YAML reads yes/no/on/off as true/false")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"must be {what}, got {value!r}")
    return value.strip()


def _spellings(raw: Any) -> Mapping[str, str]:
    if raw is None:
        return SPELLINGS
    if not isinstance(raw, Mapping):
        raise ConfigError("triage.spellings", 'must be a mapping of teen spellings to words, e.g. {kms: "me tuer"}')
    if len(raw) > _MAX_SPELLINGS:
        raise ConfigError("triage.spellings", f"must have at most {_MAX_SPELLINGS} spellings, got {len(raw)}")
    table = dict(SPELLINGS)
    for source, target in raw.items():
        key = f"triage.spellings.{source}"
        word = _words(_text(source, key, "a word")).split()
        if len(word) != 1:
            raise ConfigError(key, f"must be one word once accents and punctuation are removed; it reads "
                                   f"{' '.join(word) or 'as nothing'!r}. A spelling replaces one word")
        if not isinstance(target, str):
            raise ConfigError(key, f'must be a text: the standard words ("" drops the word), got {target!r}')
        if target.strip() and not _words(target):
            raise ConfigError(key, f"{target!r} has no letters or digits left once normalised")
        table[word[0]] = _words(target)
    return MappingProxyType(table)


def _phrase(raw: Any, key: str, spellings: Mapping[str, str]) -> str:
    """Normalise one phrase like the messages, keeping a `*` at the end of a word."""
    text = _text(raw, key, "a non-empty phrase")
    pieces = text.split("*")
    words: list[str] = []
    for i, piece in enumerate(pieces):
        starred = i < len(pieces) - 1
        if i > 0 and piece[:1].isalnum():
            raise ConfigError(key, f"{text!r}: a * may only end a word, as in suicid*")
        part = normalise(piece, spellings).split()
        if starred:
            last = re.split(r"\W+", piece)[-1]
            if not piece[-1:].isalnum() or not normalise(last, spellings):
                raise ConfigError(key, f"{text!r}: a * must follow letters, as in suicid*")
            if len(part[-1]) < _MIN_PREFIX:
                raise ConfigError(key, f"{text!r}: a * needs at least {_MIN_PREFIX} letters before it, "
                                       "or it matches too many words")
            part[-1] += "*"
        words += part
    if not words:
        raise ConfigError(key, f"{text!r} has no words left once normalised (accents, punctuation and "
                               "words such as 'ne' are removed)")
    phrase = " ".join(words)
    if len(phrase) > _MAX_PHRASE:
        raise ConfigError(key, f"must be at most {_MAX_PHRASE} characters: a phrase is a few words")
    return phrase


def _phrases(raw: Any, key: str, spellings: Mapping[str, str]) -> tuple[str, ...]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ConfigError(key, "must be a non-empty list of phrases")
    if len(raw) > _MAX_PHRASES:
        raise ConfigError(key, f"must have at most {_MAX_PHRASES} phrases, got {len(raw)}")
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        phrase = _phrase(item, f"{key}[{i}]", spellings)
        if phrase in seen:
            where = f"{key.rsplit('.', 1)[-1]}[{seen[phrase]}]"
            raise ConfigError(f"{key}[{i}]", f"same phrase as {where} once normalised ({phrase!r})")
        seen[phrase] = i
    return tuple(seen)


def _priority(rule: Mapping[str, Any], key: str) -> int:
    value = rule.get("priority")
    low, high = PRIORITY_RANGE[0], PRIORITY_RANGE[-1]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"must be a whole number from {low} (lowest) to {high} (highest), got {value!r}")
    if value not in PRIORITY_RANGE:
        raise ConfigError(key, f"must be between {low} and {high} (ordinary conversations are 0), got {value}")
    return value


def _rule(raw: Any, key: str, spellings: Mapping[str, str]) -> TriageRule:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a mapping with name, label, priority, phrases (skill and except optional)")
    for field_name in raw:
        if field_name not in _RULE_KEYS:
            raise ConfigError(f"{key}.{field_name}", f"unknown key in a rule; known: {', '.join(sorted(_RULE_KEYS))}")
    for required in ("name", "label", "priority", "phrases"):
        if required not in raw:
            raise ConfigError(f"{key}.{required}", "missing: every rule needs name, label, priority and phrases")
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{key}.name", f"must be a short identifier in lowercase such as suicide or "
                                         f"rencontre_adulte, got {name!r}")
    label = _text(raw["label"], f"{key}.label", "a short French text for counsellors")
    if len(label) > _MAX_LABEL:
        raise ConfigError(f"{key}.label", f"must be at most {_MAX_LABEL} characters (it is shown in a badge)")
    skill = raw.get("skill")
    if skill is not None:
        skill = _text(skill, f"{key}.skill", "a skill name such as psychologue")
    phrases = _phrases(raw["phrases"], f"{key}.phrases", spellings)
    excepts: tuple[str, ...] = ()
    if raw.get("except") is not None:
        excepts = _phrases(raw["except"], f"{key}.except", spellings)
        for i, phrase in enumerate(excepts):
            if phrase in phrases:
                raise ConfigError(f"{key}.except[{i}]", f"{phrase!r} is also a phrase of this rule: it "
                                                        "would cancel it everywhere")
    return TriageRule(name, label, phrases, _priority(raw, f"{key}.priority"), skill, excepts)


def _rules(raw: Any, spellings: Mapping[str, str], key: str = "rules",
           before: tuple[TriageRule, ...] = ()) -> tuple[TriageRule, ...]:
    """`before`: rules already in force (the list `extra_rules` extends); names stay unique."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ConfigError(f"triage.{key}", "must be a non-empty list of rules (to turn triage off, write "
                                           "enabled: false; to keep the built-in rules, leave rules out)")
    if len(raw) > _MAX_RULES:
        raise ConfigError(f"triage.{key}", f"must have at most {_MAX_RULES} rules, got {len(raw)}")
    rules: list[TriageRule] = list(before)
    for i, item in enumerate(raw):
        rule = _rule(item, f"triage.{key}[{i}]", spellings)
        for j, earlier in enumerate(rules):
            if earlier.name == rule.name:
                also = f"{key}[{j - len(before)}]" if j >= len(before) else "a rule it extends"
                raise ConfigError(f"triage.{key}[{i}].name", f"duplicate rule name {rule.name!r} (also {also})")
        rules.append(rule)
    return tuple(rules)


def parse_triage(section: Any) -> Triage:
    """Validate config.yaml's `triage` section (None: absent). Without `rules`, the built-in
    DEFAULT_RULES; `extra_rules` come after whichever list is in force."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError("triage", "must be a mapping with enabled, spellings and rules")
    for key in section:
        if key not in _SECTION_KEYS:
            raise ConfigError(f"triage.{key}", f"unknown key; known: {', '.join(sorted(_SECTION_KEYS))}")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("triage.enabled", f"must be true or false, got {enabled!r}")
    spellings = _spellings(section.get("spellings"))
    # Rules are validated even when disabled, so turning triage on never meets a broken list.
    rules = _rules(section["rules"] if "rules" in section else DEFAULT_RULES, spellings)
    if "extra_rules" in section:
        rules = _rules(section["extra_rules"], spellings, "extra_rules", before=rules)
    return Triage(rules, spellings=spellings, enabled=enabled)


# --- built-in rules --------------------------------------------------------------------------
# One copy, in triage_rules.yaml beside this module (package data): written as an admin would
# in config.yaml and parsed by the same code, so they follow any extra `spellings`. Read once,
# at import: the only file this pure module opens, and it ships with the code.


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _built_in_rules() -> tuple[Mapping[str, Any], ...]:
    text = resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8")
    return _frozen(yaml.safe_load(text)["rules"])


RULES_FILE = "triage_rules.yaml"
DEFAULT_RULES: tuple[Mapping[str, Any], ...] = _built_in_rules()
