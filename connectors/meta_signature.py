"""Meta webhook authenticity: the POST signature and the GET subscription handshake.

Both Messenger and WhatsApp follow Meta's Graph API webhooks guide ("Getting started with
webhooks": *Verification requests* and *Event notifications / Validating payloads*):

- every POST carries `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body
  keyed with the app secret. It must be checked over the bytes exactly as received: Meta
  signs the escaped-unicode JSON on the wire (`caf\\u00e9`), so re-serialising the parsed
  body gives other bytes and a false refusal;
- subscribing sends `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`, to be
  answered with the challenge, verbatim, when the token is ours.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

_PREFIX = "sha256="
_HEX = frozenset("0123456789abcdef")


def sign(raw_body: bytes, app_secret: bytes) -> str:
    """The `X-Hub-Signature-256` header value Meta would send for `raw_body`."""
    return _PREFIX + hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header_value: str | None, app_secret: bytes) -> bool:
    """True only for a well-formed `sha256=<64 hex>` header matching the raw bytes.

    The legacy `X-Hub-Signature: sha1=…` is refused on purpose (META.md: `-256` is the one
    to require). An empty app secret refuses everything: anyone could compute that HMAC.
    """
    if not app_secret or not isinstance(header_value, str):
        return False
    value = header_value.strip()
    if value[: len(_PREFIX)].lower() != _PREFIX:
        return False
    digest = value[len(_PREFIX):].lower()
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return False
    expected = hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)  # constant time: no timing oracle


def verify_handshake(query: Mapping[str, str], verify_token: str) -> str | None:
    """The `hub.challenge` to echo back (a string, never parsed), or None to answer 403."""
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if not isinstance(token, str) or not isinstance(challenge, str) or not challenge:
        return None
    # compare_digest refuses non-ASCII str; as bytes it stays constant time for any token.
    if not hmac.compare_digest(_utf8(token), _utf8(verify_token)):
        return None
    return challenge


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate must not raise
