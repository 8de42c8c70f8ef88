"""Security headers on a real loopback server; Origin, CSRF and address-key rules as logic."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from gateway.http.security import (
    client_address_key, csrf_ok, origin_allowed, origin_allowlist, security_headers, too_many_requests,
)

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
SECRET = b"k" * 32

# --- a small app behind the middleware, on 127.0.0.1 --------------------------------------------


def demo_app(static_dir: Path, **options) -> web.Application:
    app = web.Application(middlewares=[security_headers(**{"tls": False, **options})])

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><p>3018</p>", content_type="text/html")

    async def line(request: web.Request) -> web.Response:
        return web.json_response({"open": True}, headers={"Cache-Control": "max-age=60"})

    async def me(request: web.Request) -> web.Response:
        raise web.HTTPUnauthorized(text="Non connecté.")

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("bug")

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for frame in ws:
            await ws.send_str("echo:" + frame.data)
        return ws

    app.router.add_get("/", page)
    app.router.add_get("/console", page)
    app.router.add_get("/api/line", line)
    app.router.add_get("/api/console/me", me)
    app.router.add_get("/api/crash", crash)
    async def ws_crash(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        raise RuntimeError("bug after the upgrade")

    app.router.add_get("/ws/echo", echo)
    app.router.add_get("/ws/crash", ws_crash)
    app.router.add_static("/widget/", static_dir)
    return app


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "widget.js").write_text("console.log('3018');\n")
    return tmp_path


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[TestClient]]]:
    clients: list[TestClient] = []

    async def start(app: web.Application) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def assert_always(response: aiohttp.ClientResponse) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "object-src 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in csp.split("; "), directive
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "ws:" not in csp


# --- headers ------------------------------------------------------------------------------------


async def test_a_widget_page_gets_the_headers_and_may_be_framed_by_itself(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.get("/") as r:
        assert r.status == 200
        assert_always(r)
        assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in r.headers
        assert "Strict-Transport-Security" not in r.headers
        assert "Cache-Control" not in r.headers


async def test_the_console_is_never_framed_nor_cached(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.get("/console") as r:
        assert r.status == 200
        assert_always(r)
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Cache-Control"] == "no-store"


async def test_api_answers_are_never_cached(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.get("/api/line") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"
        assert_always(r)


async def test_a_404_gets_the_headers(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.get("/no/such/page") as r:
        assert r.status == 404
        assert_always(r)
        assert r.headers["X-Frame-Options"] == "DENY"


async def test_a_raised_http_exception_gets_the_headers(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.get("/api/console/me") as r:
        assert r.status == 401
        assert await r.text() == "Non connecté."
        assert_always(r)
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["X-Frame-Options"] == "DENY"


async def test_a_static_file_gets_the_headers(serve, static_dir):
    client = await serve(demo_app(static_dir, widget_frame_ancestors=["https://www.3018.FR/"]))
    async with client.get("/widget/widget.js") as r:
        assert r.status == 200
        assert await r.text() == "console.log('3018');\n"
        assert_always(r)
        assert r.headers["Content-Security-Policy"].endswith("; frame-ancestors https://www.3018.fr")


async def test_a_crash_is_a_bare_500_with_the_headers_and_no_address_in_the_log(serve, static_dir, caplog):
    client = await serve(demo_app(static_dir))
    with caplog.at_level(logging.DEBUG):
        async with client.get("/api/crash", headers={"Accept": "text/html"}) as r:
            assert r.status == 500
            assert "bug" not in await r.text()
            assert_always(r)
    logged = "\n".join(f"{r.getMessage()} {r.exc_text}" for r in caplog.records
                        if r.name != "aiohttp.access")  # the access log is off in production (cli.py)
    assert "RuntimeError" in logged  # the traceback is logged...
    assert "127.0.0.1" not in logged  # ...without who asked


async def test_hsts_only_with_tls(serve, static_dir):
    client = await serve(demo_app(static_dir, tls=True))
    async with client.get("/") as r:
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_websocket_upgrade_still_works(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.ws_connect("/ws/echo") as ws:
        await ws.send_str("bonjour")
        assert await ws.receive_str(timeout=5) == "echo:bonjour"


async def test_a_websocket_failing_after_the_upgrade_is_closed_not_garbled(serve, static_dir):
    client = await serve(demo_app(static_dir))
    async with client.ws_connect("/ws/crash") as ws:
        await ws.send_str("x")
        frame = await ws.receive(timeout=5)
        assert frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)  # not ERROR: no 500 written into it


async def test_extra_connect_sources_are_named_exactly(serve, static_dir):
    client = await serve(demo_app(static_dir, connect_src=["WSS://chat.3018.fr:443"]))
    async with client.get("/") as r:
        assert "connect-src 'self' wss://chat.3018.fr;" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("options", [
    {"widget_frame_ancestors": ["*"]},
    {"widget_frame_ancestors": ["https://a.example; script-src *"]},
    {"connect_src": ["ws:"]},
    {"connect_src": ["wss://*.example"]},
])
def test_a_bad_header_setting_is_refused_at_start(options):
    with pytest.raises(ValueError):
        security_headers(tls=False, **options)


# --- origin_allowed -----------------------------------------------------------------------------

ALLOWED = ["https://www.3018.fr", "http://localhost:8080/"]


@pytest.mark.parametrize("origin", [
    "https://www.3018.fr",
    "HTTPS://WWW.3018.FR",         # scheme and host are case-insensitive
    "https://www.3018.fr:443",     # the default port is the same origin
    "https://www.3018.fr/",
    "http://localhost:8080",       # the allowlist's trailing slash does not matter
])
def test_allowed_origins(origin):
    assert origin_allowed(origin, ALLOWED)


@pytest.mark.parametrize("origin", [
    None,                           # not a browser: refused
    "",
    "null",                         # sandboxed iframe, file: page
    "http://www.3018.fr",           # other scheme
    "https://www.3018.fr:8443",     # other port
    "http://localhost",             # port 80 is not 8080
    "https://3018.fr",              # parent domain
    "https://evil.www.3018.fr",     # subdomain
    "https://www.3018.fr.evil.net", # suffix trick
    "https://www.3018.fr/chat",     # an Origin has no path
    "https://user@www.3018.fr",
])
def test_refused_origins(origin):
    assert not origin_allowed(origin, ALLOWED)


def test_a_wildcard_never_matches_and_is_refused_in_config():
    assert not origin_allowed("https://www.3018.fr", ["*"])
    with pytest.raises(ValueError):
        origin_allowlist(["https://www.3018.fr", "*"])
    assert origin_allowlist(["https://WWW.3018.fr:443/"]) == {"https://www.3018.fr"}


def test_ipv6_origins():
    assert origin_allowed("http://[::1]:8080", ["http://[::1]:8080"])
    assert not origin_allowed("http://[::1]:8080", ["http://[::2]:8080"])


# --- csrf_ok ------------------------------------------------------------------------------------


def post(headers: dict[str, str], secure: bool = False) -> web.Request:
    context = ssl.create_default_context() if secure else None
    return make_mocked_request("POST", "/api/console/login", headers={"Host": "console.3018.fr", **headers},
                               sslcontext=context)


@pytest.mark.parametrize("headers,secure", [
    ({"Origin": "http://console.3018.fr"}, False),
    ({"Origin": "https://console.3018.fr"}, False),  # TLS ended at the proxy: the browser was on https
    ({"Origin": "https://console.3018.fr"}, True),
    ({"Origin": "https://console.3018.fr", "Sec-Fetch-Site": "same-origin"}, True),
    ({"Origin": "https://console.3018.fr", "Sec-Fetch-Site": "none"}, True),
    ({"Referer": "https://console.3018.fr/console?x=1"}, True),  # no Origin: the Referer's origin
    ({"Origin": "https://admin.3018.fr"}, True),  # in the allowlist
])
def test_csrf_accepts_our_own_pages(headers, secure):
    assert csrf_ok(post(headers, secure), allowed_origins=["https://admin.3018.fr"])


@pytest.mark.parametrize("headers,secure", [
    ({}, False),  # neither Origin nor Referer: refused (OWASP)
    ({"Origin": "https://evil.example"}, False),
    ({"Origin": "http://console.3018.fr"}, True),  # a downgrade
    ({"Origin": "null", "Referer": "https://console.3018.fr/console"}, True),  # Origin wins, null refused
    ({"Origin": "https://evil.example", "Referer": "https://console.3018.fr/console"}, True),
    ({"Referer": "https://evil.example/console.3018.fr"}, True),
    ({"Origin": "https://console.3018.fr", "Sec-Fetch-Site": "cross-site"}, True),
    ({"Origin": "https://console.3018.fr", "Sec-Fetch-Site": "same-site"}, True),  # a sibling subdomain
])
def test_csrf_refuses_other_sites(headers, secure):
    assert not csrf_ok(post(headers, secure), allowed_origins=["https://admin.3018.fr"])


def test_csrf_own_host_with_a_non_default_port():
    request = make_mocked_request("POST", "/api/console/logout",
                                  headers={"Host": "localhost:8080", "Origin": "http://localhost:8080"})
    assert csrf_ok(request, [])
    request = make_mocked_request("POST", "/api/console/logout",
                                  headers={"Host": "localhost:8080", "Origin": "http://localhost:9090"})
    assert not csrf_ok(request, [])


# --- client_address_key -------------------------------------------------------------------------


def from_peer(remote: str, forwarded: str | None = None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return make_mocked_request("GET", "/ws/widget", headers=headers).clone(remote=remote)


def test_the_address_key_is_a_keyed_hash_not_the_address():
    key = client_address_key(from_peer("203.0.113.7"), SECRET)
    assert len(key) == 32 and int(key, 16) >= 0
    assert "203" not in key
    assert key == client_address_key(from_peer("203.0.113.7"), SECRET)
    assert key != client_address_key(from_peer("203.0.113.8"), SECRET)
    assert key != client_address_key(from_peer("203.0.113.7"), b"x" * 32)  # another secret


def test_ipv6_addresses_share_a_key_per_64_and_mapped_ipv4_is_ipv4():
    one = client_address_key(from_peer("2001:db8:1:2::1"), SECRET)
    assert one == client_address_key(from_peer("2001:db8:1:2:ffff::9"), SECRET)
    assert one != client_address_key(from_peer("2001:db8:1:3::1"), SECRET)
    assert client_address_key(from_peer("::ffff:203.0.113.7"), SECRET) == \
        client_address_key(from_peer("203.0.113.7"), SECRET)


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted():
    direct = client_address_key(from_peer("10.0.0.1"), SECRET)
    assert client_address_key(from_peer("10.0.0.1", "203.0.113.7"), SECRET) == direct


def test_a_trusted_proxy_means_the_right_most_entry_and_forged_ones_are_ignored():
    client = client_address_key(from_peer("203.0.113.7"), SECRET)
    assert client_address_key(from_peer("10.0.0.1", "203.0.113.7"), SECRET, trust_proxy=True) == client
    forged = from_peer("10.0.0.1", "198.51.100.1, 203.0.113.7")  # the client wrote the first entry itself
    assert client_address_key(forged, SECRET, trust_proxy=True) == client
    two_proxies = from_peer("10.0.0.2", "198.51.100.1, 203.0.113.7:51000, 10.0.0.1")
    assert client_address_key(two_proxies, SECRET, trust_proxy=2) == client
    assert client_address_key(from_peer("10.0.0.1"), SECRET, trust_proxy=True) == \
        client_address_key(from_peer("10.0.0.1"), SECRET)  # no header: the peer


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError):
        client_address_key(from_peer("203.0.113.7"), b"short")


def test_too_many_requests_says_when_to_come_back():
    response = too_many_requests(1.2)
    assert response.status == 429 and response.headers["Retry-After"] == "2"
    assert too_many_requests(0.0).headers["Retry-After"] == "1"
