"""Arbitrary bytes and JSON at both webhooks of a running gateway: never a 500."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.meta_signature import sign
from tests.harness import make_config, running_gateway
from tests.test_meta_flow import SECRETS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Bodies that look like Meta's at the top, so the fuzz reaches the event parsers.
meta_like = st.fixed_dictionaries({
    "object": st.sampled_from(["page", "whatsapp_business_account", "instagram"]),
    "entry": st.lists(st.dictionaries(st.sampled_from(["id", "time", "messaging", "changes", "standby"]),
                                      json_values, max_size=4), max_size=3),
})
bodies = st.one_of(st.binary(max_size=600), json_values.map(lambda v: json.dumps(v).encode()),
                   meta_like.map(lambda v: json.dumps(v).encode()))


def test_webhooks_answer_200_400_or_403_whatever_they_receive(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    loop = asyncio.new_event_loop()
    gateway = running_gateway(make_config())
    gw = loop.run_until_complete(gateway.__aenter__())
    http = loop.run_until_complete(_session())
    answers: set[int] = set()

    async def post(path: str, body: bytes, signed: bool) -> int:
        headers = {"X-Hub-Signature-256": sign(body, SECRETS["META_APP_SECRET"].encode())} if signed else {}
        async with http.post(f"{gw.http}{path}", data=body, headers=headers) as response:
            return response.status

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(["/webhooks/messenger", "/webhooks/whatsapp"]), body=bodies, signed=st.booleans())
    def check(path: str, body: bytes, signed: bool) -> None:
        status = loop.run_until_complete(post(path, body, signed))
        answers.add(status)
        assert status in (200, 400, 403)
        if not signed:
            assert status == 403

    try:
        check()
        assert loop.run_until_complete(gw.helpline.store.queue()) == []  # nothing malformed got in
        assert {400, 403} <= answers
    finally:
        loop.run_until_complete(http.close())
        loop.run_until_complete(gateway.__aexit__(None, None, None))
        loop.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
