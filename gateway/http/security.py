"""HTTP hardening: security headers on every response, Origin checks, CSRF, address keys.

- `security_headers(...)`: the middleware adding CSP and friends (the policy itself is the
  pure `HeaderPolicy.headers_for(path)`).
- `origin_allowed(origin, allowed)`: the WebSocket Origin check (cross-site WebSocket hijacking).
- `csrf_ok(request, allowed)`: the check for the console's state-changing POSTs.
- `client_address_key(request, secret)`: a keyed hash of the peer address, for rate limits;
  `request_address_key(request, helpline)`: that hash with the helpline's shared daily secret.

Privacy: the peer address is only ever turned into a keyed hash for limits; nothing here
stores or logs an IP address (not even for an unhandled error, which aiohttp would log with
the address: the middleware logs it without).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from gateway.core.limits import address_secret
from gateway.core.security_events import SecurityEvents
from gateway.domain.origins import normalise_origin
from gateway.http.sockets import SOCKETS

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

SECURITY_EVENTS = web.AppKey("security_events", SecurityEvents)  # the process's recorder (server.py sets it)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
HSTS = "max-age=31536000"  # one year; no includeSubDomains/preload: other hosts of the domain are not ours

# --------------------------------------------------------------------------- origins


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
    if source is None:
        return False
    return source in _own_origins(request) or origin_allowed(source, allowed_origins)


# --------------------------------------------------------------------------- address keys


def _canonical_address(raw: str) -> str:
    """One string per client: ports and brackets dropped, IPv4-mapped IPv6 as IPv4, and IPv6
    reduced to its /64 (one subscriber's usual allocation, so rotating addresses inside it
    does not buy a new limit)."""
    text = raw.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4:port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return raw.strip()[:100]  # not an address (unix socket, odd proxy): still hashed
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _peer_address(request: web.Request, trusted_hops: int) -> str:
    if trusted_hops > 0:
        entries = [e.strip() for header in request.headers.getall("X-Forwarded-For", ())
                   for e in header.split(",") if e.strip()]
        if entries:
            # Each proxy appends the address it saw: the right-most `trusted_hops` - 1 entries
            # were written by our own proxies, anything left of the one we take is the client's say.
            return entries[-trusted_hops] if len(entries) >= trusted_hops else entries[0]
    return request.remote or ""


def client_address_key(request: web.Request, secret: bytes, trust_proxy: bool | int = False) -> str:
    """A keyed hash (HMAC-SHA256, 128 bits, hex) of the client's address: the key for limits.

    Used only as a limit key (in the store's limit counters, each with a TTL of its window)
    and, its first 16 characters, in security events. The secret is what keeps it from being
    reversed (all of IPv4 hashes in minutes without it): `request_address_key` derives it
    from the pseudonym key, per UTC day, so keys of two days cannot be linked.

    `trust_proxy`: False uses the TCP peer. True (or the number of our own proxies in
    front, 1, 2…) takes `X-Forwarded-For`'s right-most untrusted entry; only when every
    request comes through those proxies, or clients could pick their own key.
    """
    if len(secret) < 16:
        raise ValueError("the secret must be at least 16 bytes")
    address = _canonical_address(_peer_address(request, int(trust_proxy)))
    return hmac.new(secret, address.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]


def request_address_key(request: web.Request, helpline: Helpline) -> str:
    """The one address key of a request (widget limits, console login, security events): the
    same in every process of the helpline, new each UTC day (core/limits.address_secret)."""
    return client_address_key(request, address_secret(helpline), helpline.config.trust_proxy)


def too_many_requests(wait_seconds: float, message: str = "Trop de tentatives. Réessayez plus tard.") -> web.Response:
    """A 429 with `Retry-After` (whole seconds, at least 1) and the app's JSON error shape."""
    retry = max(1, math.ceil(wait_seconds)) if math.isfinite(wait_seconds) else 3600
    return web.json_response({"error": message}, status=429, headers={"Retry-After": str(retry)})


# --------------------------------------------------------------------------- headers


def _is_console(path: str) -> bool:
    return path.startswith("/console") or path.startswith("/api/console")


def _is_widget(path: str) -> bool:
    return path == "/" or path.startswith("/widget/")


def _frame_source(entry: str) -> str:
    if entry in ("'self'", "'none'"):
        return entry
    origin = normalise_origin(entry)
    if origin is None:
        raise ValueError(f"frame ancestor must be 'self', 'none' or an origin: {entry!r}")
    return origin


def _connect_source(entry: str) -> str:
    origin = normalise_origin(entry, schemes=("https", "wss", "http", "ws"))
    if origin is None:
        raise ValueError(f"connect-src entry must be an origin such as wss://chat.example: {entry!r}")
    return origin


@dataclass(frozen=True)
class HeaderPolicy:
    """Which headers each response gets, by path. Pure; the middleware applies it.

    CSP: nothing inline (no `'unsafe-inline'`, no `'unsafe-eval'`), every resource from our
    origin. `connect-src 'self'` also covers ws:/wss: to the same host under CSP Level 3
    (§6.7.2.8 "Does url match expression…": 'self' matches wss:// and, from an http: page,
    ws://): Chromium since 71, Firefox since 2018, Safari since 15.5/16 (WebKit r292266). For
    older Safari name the socket origin in `connect_src` (e.g. "wss://chat.3018.fr"): never
    a bare `ws: wss:`, which would allow every host.
    Framing: the console never (`frame-ancestors 'none'` and `X-Frame-Options: DENY`, for
    browsers without CSP2); the widget pages (`/`, `/widget/…`) by `widget_frame_ancestors`;
    everything else never.
    """

    tls: bool
    widget_frame_ancestors: tuple[str, ...] = ("'self'",)
    connect_src: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        frames = tuple(_frame_source(e) for e in self.widget_frame_ancestors) or ("'none'",)
        object.__setattr__(self, "widget_frame_ancestors", frames)
        object.__setattr__(self, "connect_src", tuple(_connect_source(e) for e in self.connect_src))

    def csp(self, frame_ancestors: str) -> str:
        return "; ".join([
            "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            " ".join(["connect-src 'self'", *self.connect_src]), "object-src 'none'", "base-uri 'none'",
            "form-action 'self'", f"frame-ancestors {frame_ancestors}",
        ])

    def headers_for(self, path: str) -> dict[str, str]:
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        }
        if self.tls:
            headers["Strict-Transport-Security"] = HSTS
        if _is_widget(path):
            headers["Content-Security-Policy"] = self.csp(" ".join(self.widget_frame_ancestors))
        else:
            headers["Content-Security-Policy"] = self.csp("'none'")
            headers["X-Frame-Options"] = "DENY"
        if _is_console(path) or path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
        return headers


def security_headers(tls: bool, widget_frame_ancestors: Iterable[str] = ("'self'",),
                     connect_src: Iterable[str] = ()) -> Middleware:
    """The middleware; put it first in `web.Application(middlewares=[...])` so it sees every
    answer of the others. Raises ValueError now for a malformed frame ancestor or connect source.

    Returned and raised responses (`web.HTTPException`, the router's 404/405, static files)
    get the headers. A response the handler prepared itself (a WebSocket's 101, a stream) is
    already sent and left alone: a 101 is no document, CSP and framing rules do not apply.
    An unexpected exception becomes a bare 500 with the headers, logged here with the route's
    canonical path, the exception's type and the frames only (aiohttp's own handler would log
    the client address, and an exception's text may quote client input); a TimeoutError, a
    504 as aiohttp does; a body aiohttp could not parse (bad chunked encoding), a 400; a
    client gone mid-request, nothing (aiohttp drops the connection). Once a response has
    started (a WebSocket handler failing after the upgrade) no second response may go on that
    stream: the error is logged the same way, the socket closed with 1011 and returned as the
    handler's answer, so aiohttp ends the request cleanly.
    """
    policy = HeaderPolicy(tls, tuple(widget_frame_ancestors), tuple(connect_src))

    @web.middleware
    async def add_security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = policy.headers_for(request.path)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        except ConnectionError:
            raise  # the client went away: nothing to answer, nothing of ours failed
        except web.RequestPayloadError as exc:
            log.info("malformed request body refused (%s)", type(exc.__cause__ or exc).__name__)
            _count(request, "bad_request")
            raise web.HTTPBadRequest(headers=headers) from None
        except Exception as exc:
            _log_handler_error(request, exc)
            _count(request, "handler_error")
            if request.writer.output_size > 0:
                return await _end_started_response(request)
            if isinstance(exc, TimeoutError):
                raise web.HTTPGatewayTimeout(headers=headers) from None
            raise web.HTTPInternalServerError(headers=headers) from None
        if not response.prepared:
            response.headers.update(headers)
        return response

    return add_security_headers


def _count(request: web.Request, kind: str) -> None:
    """A security event of the middleware's own, on the app's recorder when it has one."""
    events = request.app.get(SECURITY_EVENTS)
    if events is not None:
        events.record(kind, "http")


def frames_only(exc: BaseException) -> str:
    """A traceback without the exception's text: file, line and function of each frame, then
    the exception's type (and those it was raised from). The text is left out because it may
    quote client input (a request line, a header, a frame)."""
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in traceback.extract_tb(exc.__traceback__)]
    causes, seen = [], exc.__cause__ or exc.__context__
    while seen is not None and len(causes) < 5:
        causes.append(type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return "\n".join([*lines, type(exc).__name__ + (f" (from {', '.join(causes)})" if causes else "")])


def _log_handler_error(request: web.Request, exc: Exception) -> None:
    """Ids only: the method, the route's canonical path (`/api/conversations/{id}`, never the
    URL with its ids and query), the exception's type and frames."""
    route = request.match_info.route.resource
    started = " after the response started" if request.writer.output_size > 0 else ""
    log.error("unhandled error%s: %s %s (%s)\n%s", started, request.method, route.canonical if route else "?",
              type(exc).__name__, frames_only(exc))


async def _end_started_response(request: web.Request) -> web.StreamResponse:
    """A handler failed after its response started: an upgraded WebSocket (found among the
    app's open sockets, gateway/http/sockets.py) is closed with 1011 "internal error" and
    given to aiohttp as the answer; any other stream is dropped (ConnectionError: aiohttp
    closes the connection without logging)."""
    ws = next((s for s in request.app.get(SOCKETS, ()) if getattr(s, "_req", None) is request), None)
    if ws is None:
        raise ConnectionError("response already started")
    if not ws.closed:
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    return ws


def request_origin_allowed(request: web.Request, allowed: Iterable[str] = ()) -> bool:
    """A WebSocket handshake's `Origin` is this gateway's own page or in `allowed`
    (cross-site WebSocket hijacking: browsers always send Origin on a WebSocket)."""
    origin = normalise_origin(request.headers.get("Origin"))
    return origin is not None and (origin in _own_origins(request) or origin_allowed(origin, allowed))
