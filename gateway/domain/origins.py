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
