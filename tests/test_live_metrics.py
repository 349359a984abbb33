"""`/metrics`, `/healthz`, `/readyz` and `/stats` of a real server, with real aiortc clients in a namespace.

The Prometheus text is parsed with prometheus_client's own parser; each figure is checked against
what the session itself reported (its turn's `metrics` message, its media clock).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from helpers_live import interrupt_answer, start_live_server, wait_sessions
from livehuman.live.client import LiveClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUESTION = "Is it free?"
LONG_QUESTION = "What is livehuman?"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    from livehuman.live.server import local_brain_factory

    offline = local_brain_factory()
    live, runner = await start_live_server(netns.addresses[0], max_sessions=2, inactivity_timeout=6.0,
                                           realtime_brain_factory=offline)
    yield live
    await runner.cleanup()
    offline.close()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()


async def scrape(server) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    status, content_type, text = await get(f"{server.url}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_conversation_is_counted_as_it_happens_and_after_it_ends(server):
    await wait_sessions(server, 0)
    before = await scrape(server)
    assert value(before, "livehuman_sessions_active") == 0
    client = LiveClient(server.url)
    await client.connect()
    try:
        t = time.monotonic()
        client.send({"type": "text", "text": QUESTION})
        report = await client.wait_for(lambda: client.event("metrics", since=t, source="text"), 40)
        during = await scrape(server)
        assert value(during, "livehuman_sessions_active") == 1
        assert value(during, "livehuman_offers_total", result="answered") == value(
            before, "livehuman_offers_total", result="answered") + 1
        # The turn's latency is the one the session reported to the page, to the millisecond.
        for until, key in (("first_audio", "first_audio_ms"), ("first_frame", "first_frame_ms")):
            count = "livehuman_response_latency_seconds_count"
            total = "livehuman_response_latency_seconds_sum"
            assert value(during, count, until=until) == value(before, count, until=until) + 1
            added = value(during, total, until=until) - value(before, total, until=until)
            assert added == pytest.approx(report[key] / 1000, abs=0.002)
        assert value(during, "livehuman_turns_total") >= value(before, "livehuman_turns_total") + 1
        session = server.sessions[client.session]
        frames = value(during, "livehuman_video_frames_total") - value(before, "livehuman_video_frames_total")
        assert 0 < frames <= session.clock.stats.frames
        # Barge-ins are counted: the interrupt, and the question typed over the first answer if it still played.
        _, _, cut = await interrupt_answer(client, LONG_QUESTION, 40)
        assert cut["barge_in"] == "client"
        after_cut = await scrape(server)
        assert "client" in [b["barge_in"] for b in session.barge_ins]
        assert value(after_cut, "livehuman_barge_ins_total") - value(before, "livehuman_barge_ins_total") == len(
            session.barge_ins)
    finally:
        await client.close()
    await wait_sessions(server, 0)
    ended = await scrape(server)
    # Counters never go back once the session has gone: its figures are in the totals.
    assert value(ended, "livehuman_sessions_active") == 0
    assert value(ended, "livehuman_sessions_ended_total") == value(before, "livehuman_sessions_ended_total") + 1
    for name in ("livehuman_turns_total", "livehuman_barge_ins_total", "livehuman_video_frames_total"):
        assert value(ended, name) >= value(after_cut, name), name
    assert value(ended, "livehuman_video_frames_total") - value(before, "livehuman_video_frames_total") >= frames


async def test_health_says_counts_and_stats_say_each_session(server):
    await wait_sessions(server, 0)
    client = LiveClient(server.url)
    await client.connect()
    try:
        status, _, text = await get(f"{server.url}/healthz")
        assert status == 200 and json.loads(text) == {"ok": True, "sessions": 1, "max_sessions": 2}
        assert client.session not in text  # nobody learns who is talking from the public check
        status, _, text = await get(f"{server.url}/stats")
        stats = json.loads(text)
        assert status == 200 and list(stats["media"]) == [client.session]
        assert stats["media"][client.session]["frames"] > 0
    finally:
        await client.close()


async def test_ready_only_while_a_session_can_start(server):
    await wait_sessions(server, 0)
    status, _, text = await get(f"{server.url}/readyz")
    assert status == 200 and json.loads(text)["ready"] is True
    clients = [LiveClient(server.url) for _ in range(2)]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        status, _, text = await get(f"{server.url}/readyz")
        body = json.loads(text)
        assert status == 503 and body["ready"] is False and "every place is taken" in body["reason"]
        # A busy answer to an offer is counted as such.
        before = value(await scrape(server), "livehuman_offers_total", result="busy")
        extra = LiveClient(server.url)
        with pytest.raises(ConnectionError, match="503"):
            await extra.connect()
        await extra.close()
        assert value(await scrape(server), "livehuman_offers_total", result="busy") == before + 1
        await clients[0].close()
        await wait_sessions(server, 1)
        status, _, _ = await get(f"{server.url}/readyz")
        assert status == 200
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_realtime_connections_and_their_errors_are_counted(server):
    before = await scrape(server)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{server.url}/v1/realtime") as ws:
            assert json.loads((await ws.receive(timeout=30)).data)["type"] == "session.created"
            await ws.send_str("{not json")
            error = json.loads((await ws.receive(timeout=10)).data)
            assert error["type"] == "error" and error["error"]["code"] == "invalid_json"
            during = await scrape(server)
            assert value(during, "livehuman_realtime_connections") == 1
            assert value(during, "livehuman_realtime_errors_total", code="invalid_json") == value(
                before, "livehuman_realtime_errors_total", code="invalid_json") + 1
