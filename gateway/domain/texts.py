"""What we say, and what we accept as a line of text: pure, shared by every channel."""

from __future__ import annotations

import unicodedata

from gateway.domain.errors import ProtocolError
from gateway.domain.figures import NOBODY_AVAILABLE_FR, WaitEstimate
from gateway.domain.model import CloseReason


def clean_text(text: object, limit: int) -> str:
    """Plain text as typed, minus control characters; refuse empty or too long."""
    if not isinstance(text, str):
        raise ProtocolError("bad_text", "Ton message n'a pas pu être lu.")
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if not kept.strip():
        raise ProtocolError("empty", "Ton message est vide.")
    if len(kept) > limit:
        raise ProtocolError("too_long", f"Ton message est trop long ({limit} caractères maximum).")
    return kept


# Said when the teen waits although counsellors are on duty (never "nobody is available").
ALL_BUSY_FR = "Les écoutant·es sont tous et toutes occupé·es : on te répond dès que quelqu'un se libère."


def position_text(position: int) -> str:
    """A place in the queue, written one way everywhere (bubbles and the widget's band)."""
    return f"n° {position}"


def _as_sentence(wait: str) -> str:
    """ConvView.wait is a figure ("environ 5 minutes") or already a whole sentence."""
    return wait if wait.endswith(".") else f"Attente estimée : {wait}."


def wait_sentence(estimate: WaitEstimate) -> str:
    """The estimated wait as the automatic messages' {wait}: one honest sentence or two."""
    sentence = _as_sentence(estimate.text_fr())
    return f"{ALL_BUSY_FR} {sentence}" if estimate.all_busy else sentence


# The band is read at a glance above the conversation: the short form of NOBODY_AVAILABLE_FR
# (the bubble under it says the whole sentence once).
NOBODY_AVAILABLE_SHORT_FR = "Personne n'est disponible pour l'instant : tu gardes ta place."


def queue_sentence(position: int, wait: str) -> str:
    """The widget's band (ConvView.queue_text), phrased as the bubbles' "Tu es {position} dans
    la file. {wait}": `wait` as ConvView.wait carries it (`WaitEstimate.text_fr()`)."""
    said = NOBODY_AVAILABLE_SHORT_FR if wait == NOBODY_AVAILABLE_FR else _as_sentence(wait)
    return f"Tu es {position_text(position)} dans la file. {said}"


CLOSE_MESSAGES = {
    CloseReason.BY_TEEN: "closed_by_teen",
    CloseReason.BY_COUNSELLOR: "closed_by_counsellor",
    CloseReason.ABANDONED: "abandoned",
    CloseReason.LINE_CLOSING: "line_closing",
    CloseReason.INACTIVE: "inactivity_closed",
    CloseReason.ABUSE: "abuse_closed",
}
