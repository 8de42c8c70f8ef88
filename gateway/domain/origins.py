"""Web origins (`scheme://host[:port]`) as RFC 6454 compares them: one normal form.

Pure: the config validates `http.widget_origins` with it, the HTTP layer compares request
`Origin` headers with it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_ORIGIN_RE = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)"
    r"(?::(?P<port>[0-9]{1,5}))?/?")


# --------------------------------------------------------------------------- origins


def normalise_origin(value: str | None, schemes: Iterable[str] = ("http", "https")) -> str | None:
    """`scheme://host[:port]`, lowercase, default port dropped, one trailing "/" allowed; None for
    anything else: missing, "null", "*", a path, credentials, a non-ASCII host (use punycode)."""
    if not value:
        return None
    match = _ORIGIN_RE.fullmatch(value.strip().lower())
    if match is None or match["scheme"] not in schemes:
        return None
    scheme, host, port = match["scheme"], match["host"], match["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if port is not None:
        if int(port) > 65535:
            return None
        if int(port) == _DEFAULT_PORTS.get(scheme):
            port = None
    return f"{scheme}://{host}" + (f":{int(port)}" if port is not None else "")


def origin_allowlist(entries: Iterable[str]) -> frozenset[str]:
    """Normalised origins from config; raises ValueError on anything that is not one (`*` included)."""
    allowed = set()
    for entry in entries:
        origin = normalise_origin(entry)
        if origin is None:
            raise ValueError(f"not an origin (scheme://host[:port], no wildcard): {entry!r}")
        allowed.add(origin)
    return frozenset(allowed)


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether a WebSocket handshake's `Origin` is one of `allowed` (exact, after normalising).

    Why: browsers let any page open a WebSocket to any host and, unlike fetch, apply no CORS
    to it; they do send the page's `Origin` on every handshake (RFC 6455 §4.1, §10.2). Without
    this check any site could drive our sockets from a visitor's browser (cross-site
    WebSocket hijacking). So a missing Origin (not a browser) and "null" (sandboxed or file:
    pages) are refused, and `*` is not supported: it never matches.
    """
    normalised = normalise_origin(origin)
    return normalised is not None and any(normalised == normalise_origin(entry) for entry in allowed)


def _own_origins(request: web.Request) -> set[str]:
    """The origins this request's own page would have. https is always accepted: behind a
    TLS-terminating proxy the gateway sees http while the browser is on https."""
    schemes = ("https",) if request.secure else ("https", "http")
    return {o for o in (normalise_origin(f"{s}://{request.host}") for s in schemes) if o is not None}


def _referer_origin(referer: str | None) -> str | None:
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:
        return None
    return normalise_origin(f"{parts.scheme}://{parts.netloc}") if "@" not in parts.netloc else None


def csrf_ok(request: web.Request, allowed_origins: Iterable[str] = ()) -> bool:
    """Whether a state-changing request (console login, logout…) comes from our own pages.

    OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers" and "Fetch
    Metadata headers": the source origin (`Origin`, else `Referer`) must be this host or one
    of `allowed_origins`, and `Sec-Fetch-Site`, when sent, must be `same-origin` or `none`.
    A request naming neither origin is refused (the cheat sheet's recommendation).

    No token needed: browsers set these headers themselves and page scripts cannot forge
    them, every browser we support sends `Origin` on a fetch() POST (the console's only way
    to post), and the session cookie is also `SameSite=Strict`, so a cross-site request does
    not even carry it. Tokens would add nothing against an attacker who cannot run script on
    our origin, and nothing helps against one who can (that is the CSP's job).
    Note: `Origin: null` (privacy-sensitive contexts, or a form post under
    `Referrer-Policy: no-referrer`) is refused; the console posts with fetch(), whose
    `cors` mode always sends the real origin.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    header = request.headers.get("Origin")
    source = normalise_origin(header) if header is not None else _referer_origin(request.headers.get("Referer"))


def normalise_origin(value: str | None, schemes: Iterable[str] = ("http", "https")) -> str | None:
    """`scheme://host[:port]`, lowercase, default port dropped, one trailing "/" allowed; None for
    anything else: missing, "null", "*", a path, credentials, a non-ASCII host (use punycode)."""
    if not value:
        return None
    match = _ORIGIN_RE.fullmatch(value.strip().lower())
    if match is None or match["scheme"] not in schemes:
        return None
    scheme, host, port = match["scheme"], match["host"], match["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if port is not None:
        if int(port) > 65535:
            return None
        if int(port) == _DEFAULT_PORTS.get(scheme):
            port = None
    return f"{scheme}://{host}" + (f":{int(port)}" if port is not None else "")
