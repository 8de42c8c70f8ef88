"""How the gateway's aiohttp server runs: the runner, the per-connection protocol, deadlines, logs.

`python -m gateway serve` (gateway/app/cli.py) and the tests' `running_gateway`
(tests/harness.py) both build their runner here, so the tests exercise this very code.

What it adds to aiohttp 3.14's own server (`web.AppRunner` → `web.Server` → `RequestHandler`):
- **Deadlines (slowloris).** A request's whole head (request line + headers) must arrive
  within `http.request_head_seconds`, and its body within `http.request_body_seconds` once
  the head is in; otherwise the connection is dropped, with a bare 408 when some of the
  request came and nothing was answered yet. The head clock starts when the connection opens
  (a socket that never sends a byte is dropped too) and, on a kept-alive connection, at the
  first byte of each later request: an idle kept-alive connection is closed by
  `KEEPALIVE_SECONDS` instead. An upgraded WebSocket is exempt (its handler has its own idle
  timeout). Each drop is one `slow_client` security event (phase `silent`, `head` or `body`).
- **Errors without the client.** aiohttp logs a malformed request or a failing handler as
  `Error handling request from <address>` with a traceback whose exception text can quote
  the request line (a `hub.verify_token=…` query). `GuardedRequestHandler.handle_error`
  answers a fixed `400 Bad Request` (nothing of the request echoed), records one
  `bad_request` event and logs only the exception's type; for any other error, its type and
  its frames (file, line, function), never its text. `AiohttpLogFilter` rewrites whatever
  else reaches aiohttp's loggers the same way (no arguments, no exception text).

Pinned to aiohttp 3.14's internals (`Server._kwargs`, `RequestHandler._messages`,
`_request_count`, `_current_request`, `_upgraded`, `_payload_parser`, `_lingering_time`):
tests/test_slow_clients.py::test_guard_hooks_still_match_aiohttp fails if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http import RawRequestMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from gateway.domain.config import Config
from gateway.http.console import HELPLINE
from gateway.http.security import frames_only

log = logging.getLogger("gateway.http")

# Longer than a reverse proxy's own idle timeout for its upstream connections (nginx's
# `keepalive_timeout` is 60 s by default): the proxy closes first, so it never sends a
# request on a connection we are closing. aiohttp's default (3630 s) held idle sockets an hour.
KEEPALIVE_SECONDS = 75.0
REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                   b"Connection: close\r\n\r\n")  # RFC 9110 §15.5.9; no body, so no CSP to add
AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.websocket", "aiohttp.access", "aiohttp.internal")

OnEvent = Callable[..., None]  # (kind, **enum_detail): SecurityEvents.record bound to where="http"


# --------------------------------------------------------------------------- what a log may say


def is_malformed_request(exc: BaseException | None) -> bool:
    """An HTTP parse error (the BadHttpMessage family), or a body that could not be parsed
    (aiohttp wraps those in RequestPayloadError, the parse error as its cause)."""
    return isinstance(exc, (HttpProcessingError, RequestPayloadError))


class AiohttpLogFilter(logging.Filter):
    """Rewrites every record of aiohttp's server-side loggers so it carries no client input.

    - a parse error: "malformed request refused (LineTooLong)", no traceback;
    - another exception: the original message *template* (never its arguments: the client
      address is one), then the frames-only traceback;
    - no exception: the template without its arguments.
    Never drops a record: that something happened stays visible.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if is_malformed_request(exc):
            record.msg, record.args = "malformed request refused (%s)", (type(exc).__name__,)
        elif exc is not None:
            record.msg, record.args = "%s\n%s", (str(record.msg)[:200], frames_only(exc))
        else:
            record.args = ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = AiohttpLogFilter()


def install_log_filter() -> None:
    """Once per process (idempotent): on each aiohttp server-side logger."""
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# --------------------------------------------------------------------------- the protocol


@dataclass(frozen=True)
class Guard:
    """What every connection of this server is held to, and where its refusals are told."""

    head_seconds: float
    body_seconds: float
    on_event: OnEvent

    def record(self, kind: str, **detail: str | int) -> None:
        try:
            self.on_event(kind, **detail)
        except Exception as exc:  # a counter must never break the connection handling
            log.error("security event not recorded (%s)\n%s", type(exc).__name__, frames_only(exc))


class GuardedRequestHandler(RequestHandler):
    """aiohttp's RequestHandler with the head/body deadlines and client-free error handling.

    State, per connection: `_head_timer` runs while a request head is awaited (from the
    connection's start, or from a later request's first byte); `_body_timer` while the body
    of the last parsed request (`_body`) is incomplete. Both are loop timers (no task per
    connection), cancelled when what they wait for arrives or the connection goes.
    """

    def __init__(self, manager: web.Server, *, guard: Guard, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        self._head_started = False  # a byte of the awaited head has arrived

    # --- deadlines ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and self._reading_heads():
            if self._head_timer is None and self._body is None:
                self._arm_head()  # the first byte of a later request on a kept-alive connection
            self._head_started = self._head_timer is not None
        parsed_before = self._request_count
        super().data_received(data)
        if self._body is not None and self._body.is_eof():
            self._stop_body()
        if self._request_count > parsed_before:
            self._parsed(list(self._messages)[parsed_before - self._request_count:])

    def _reading_heads(self) -> bool:
        """Not upgraded (a WebSocket is exempt), and not closing already."""
        return not (self._upgraded or self._payload_parser is not None or self._force_close or self._close)

    def _arm_head(self) -> None:
        if self._head_timer is None and self._reading_heads():
            self._head_started = False
            self._head_timer = self._loop.call_later(self._guard.head_seconds, self._head_late)

    def _parsed(self, new: list) -> None:
        """Heads were parsed (or refused): the head clock stops; the body clock starts for a
        body not all here; a refusal while a body is awaited goes to that body's reader."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_started = False
        pending = self._body
        for message, payload in new:
            if not isinstance(message, RawRequestMessage):  # aiohttp's 400 for what followed
                if pending is not None and not pending.is_eof():
                    self._body_malformed(pending)
                return
            if not payload.is_eof():
                pending = payload
        if pending is not None and pending is not self._body and not self._upgraded:
            self._stop_body()
            self._body = pending
            self._body_timer = self._loop.call_later(self._guard.body_seconds, self._body_late)

    def _body_malformed(self, body: StreamReader) -> None:
        """The parser refused what came after a head whose body is being read (bad chunked
        encoding): aiohttp queues a 400 for *after* that request, whose handler would wait
        for the rest of its body until the body deadline. It gets the error now instead
        (answered 400 by the security middleware), and the connection closes after it."""
        self._stop_body()
        self._guard.record("bad_request")
        self._lingering_time = 0.0
        self.close()
        body.set_exception(RequestPayloadError("malformed request body"))

    def _stop_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer, self._body = None, None

    def _cancel_timers(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._stop_body()

    def _head_late(self) -> None:
        self._head_timer = None
        if not self._reading_heads() or self._request_in_progress:
            return  # upgraded meanwhile, closing, or answering a pipelined request: not a slow head
        started = self._head_started
        self._guard.record("slow_client", phase="head" if started else "silent")
        if started and self.transport is not None:
            self.transport.write(REQUEST_TIMEOUT)  # flushed by the close below
        self.force_close()

    def _body_late(self) -> None:
        body, self._body_timer, self._body = self._body, None, None
        if body is None or body.is_eof() or self._force_close:
            return
        self._guard.record("slow_client", phase="body")
        request = self._current_request
        if request is not None and request.writer.output_size == 0:
            # The handler is waiting for the body: it gets a 408 raised from its read, which
            # aiohttp answers like any HTTPException; no lingering read of the rest, then closed.
            timeout = web.HTTPRequestTimeout()
            timeout.force_close()
            self._lingering_time = 0.0
            self.close()
            body.set_exception(timeout)
        else:
            self.force_close()  # answered already, or not yet being handled: just closed

    # --- errors --------------------------------------------------------------------------------
    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's handle_error (the 400 of a malformed request, the 500 of a handler error
        that escaped every middleware), without the client: nothing of the request in the log
        or in the answer."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")  # as aiohttp does: the connection is dropped
        if is_malformed_request(exc):
            log.info("malformed request refused (%s)", type(exc).__name__)
            self._guard.record("bad_request")
        elif isinstance(exc, ConnectionError):
            log.debug("client went away during the request (%s)", type(exc).__name__)
        elif exc is not None:
            log.error("request failed (%s)\n%s", type(exc).__name__, frames_only(exc))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        response = web.Response(status=status, text=f"{status} {phrase}\n", content_type="text/plain")
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's low-level Server whose connections are GuardedRequestHandler."""

    def __init__(self, *args: Any, guard: Guard, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, guard=self.guard, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An AppRunner whose server is a GuardedServer (same app, same handler arguments)."""

    def __init__(self, app: web.Application, guard: Guard, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # app startup + freeze, as aiohttp does
        return GuardedServer(plain.request_handler, request_factory=plain.request_factory,
                             handler_cancellation=plain.handler_cancellation, loop=plain._loop,
                             guard=self._guard, **plain._kwargs)


def gateway_runner(app: web.Application, config: Config, **kwargs: Any) -> GatewayRunner:
    """The runner `serve` uses (the tests' too, with their own extra aiohttp arguments).

    No access log: it would carry tokens in URLs. `keepalive_timeout`: see KEEPALIVE_SECONDS.
    Refusals are told to the app's helpline (`app[HELPLINE].security`, where="http").
    """
    install_log_filter()
    helpline = app[HELPLINE]

    def on_event(kind: str, **detail: str | int) -> None:
        helpline.security.record(kind, "http", **detail)

    guard = Guard(float(config.request_head_seconds), float(config.request_body_seconds), on_event)
    options: dict[str, Any] = {"access_log": None, "keepalive_timeout": KEEPALIVE_SECONDS, **kwargs}
    return GatewayRunner(app, guard, **options)
