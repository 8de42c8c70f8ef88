"""What we say, and what we accept as a line of text: pure, shared by every channel."""

from __future__ import annotations

import unicodedata

from gateway.domain.errors import ProtocolError
from gateway.domain.figures import WaitEstimate
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


def position_text(position: int) -> str:
    return f"n° {position}"


def wait_sentence(estimate: WaitEstimate) -> str:
    """The estimated wait as one sentence for the teen, honest when we cannot tell."""
    text = estimate.text_fr()
    return f"Attente estimée : {text}." if estimate.seconds is not None else text


CLOSE_MESSAGES = {
    CloseReason.BY_TEEN: "closed_by_teen",
    CloseReason.BY_COUNSELLOR: "closed_by_counsellor",
    CloseReason.ABANDONED: "abandoned",
    CloseReason.LINE_CLOSING: "line_closing",
    CloseReason.INACTIVE: "inactivity_closed",
    CloseReason.ABUSE: "abuse_closed",
}
