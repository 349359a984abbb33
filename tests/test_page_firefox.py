"""The page in real Firefox: Debian's firefox-esr, headless, driven over WebDriver BiDi, in a namespace.

The server listens on 127.0.0.1 inside the test's network namespace, as a user's would on their own
machine (a secure context, so the page may ask for the microphone without any browser flag); ICE
runs over the namespace's private veth addresses. Firefox's fake microphone plays a tone.

Firefox gathers ICE candidates only once it has found the machine's default address (the source
address of the default route): with no default route it gathers nothing and ICE fails at once. So
the namespace gets one, through its own veth pair: a packet for anywhere else reaches the pair's
other end, inside the same namespace, which does not forward it, and is dropped there.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import pytest_asyncio
from helpers_firefox import (
    BLOCKED_MICROPHONE_PREFS,
    ENTER,
    FAKE_MEDIA_PREFS,
    Firefox,
    firefox_executable,
)
from helpers_live import start_live_server, wait_sessions

pytestmark = pytest.mark.asyncio(loop_scope="module")

WIDTH, HEIGHT = 1200, 760

# Everything the test wants to know about the page at one moment, as JSON.
PAGE_STATE = """({...window.livehuman, video: (() => { const v = document.getElementById('avatar');
  const tracks = v.srcObject ? v.srcObject.getTracks().map(t => ({kind: t.kind, state: t.readyState})) : [];
  return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime, paused: v.paused, ready: v.readyState, tracks}; })()})"""

# Spread of the luma of the current video frame drawn on a canvas: a face has detail, a black or
# single-colour frame (nothing decoded) has none.
FRAME_LUMA_SPREAD = """(() => { const v = document.getElementById('avatar');
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0;
  for (let i = 0; i < d.length; i += 16) { const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]; n++; s += y; s2 += y * y; }
  const mean = s / n; return Math.sqrt(Math.max(0, s2 / n - mean * mean)); })()"""

@pytest.fixture(scope="module")
def firefox_path() -> str:
    path = firefox_executable()
    if path is None:
        pytest.fail("firefox-esr is not installed: run scripts/setup.sh (it apt-installs firefox-esr)")
    return path


def default_route(netns, action: str) -> None:
    """Add or delete ("add"/"del") the namespace's default route through its own veth pair."""
    listing = subprocess.run(["ip", "-n", netns.name, "-o", "-4", "addr", "show"],
                             capture_output=True, text=True, check=True).stdout
    device = next(line.split()[1] for line in listing.splitlines() if f" {netns.addresses[0]}/" in line)
    subprocess.run(["ip", "-n", netns.name, "route", action, "default", "dev", device], check=True)


@pytest.fixture(scope="module")
def routed_netns(netns):
    """The module's namespace with a default route, as every real machine has (see the docstring)."""
    default_route(netns, "add")
    forwarding = subprocess.run(netns.command(["sysctl", "-n", "net.ipv4.ip_forward"]),
                                capture_output=True, text=True, check=True).stdout.strip()
    assert forwarding == "0", "the namespace must not forward packets anywhere"
    return netns


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(routed_netns):
    live, runner = await start_live_server("127.0.0.1", max_sessions=2)
    # One session first, so the slow one-time loads (sentence embedder, ASR) are out of the way.
    from livehuman.live.client import LiveClient

    warm = LiveClient(live.url)
    await warm.connect()
    await warm.close()
    yield live
    await runner.cleanup()


async def video_advances(page, seconds: float) -> None:
    """Wait until the avatar's video has played `seconds` more."""
    start = await page.evaluate("document.getElementById('avatar').currentTime")
    await page.wait_for(f"document.getElementById('avatar').currentTime > {start} + {seconds}", seconds + 10)


async def received_over(page, seconds: float) -> dict:
    """What the page's connection received in the next `seconds`, per kind (see app.js `receiving`)."""
    start = await page.evaluate("window.livehuman.receiving()")
    await asyncio.sleep(seconds)
    end = await page.evaluate("window.livehuman.receiving()")
    return {kind: {k: (end[kind].get(k) or 0) - (start[kind].get(k) or 0) for k in end[kind]} for kind in end}


async def assistant_answer_after(page, count: int, timeout: float = 40.0) -> str:
    """The first final assistant message after the first `count` messages."""
    return await page.wait_for(
        f"window.livehuman.messages.slice({count}).find(m => m.role === 'assistant' && m.text.length > 0)?.text",
        timeout)


async def test_the_page_talks_in_firefox(firefox_path, server, tmp_path, test_output: Path):
    async with Firefox.launch(tmp_path / "profile", FAKE_MEDIA_PREFS, firefox_path) as firefox:
        page = await firefox.page(WIDTH, HEIGHT)
        await page.goto(server.url)
        assert await page.evaluate("document.title") == "livehuman"
        assert await page.evaluate("window.isSecureContext")
        assert await page.evaluate("window.livehuman.state") == "idle"
        await page.screenshot(test_output / "firefox-start.png")

        await page.click("#start")
        # The data channel opens only over a working connection: ICE, DTLS and SCTP all came up.
        await page.wait_for("window.livehuman.state === 'listening'", 30)
        await page.wait_for("window.livehuman.connection === 'connected'", 10)
        session = await page.evaluate("window.livehuman.session")
        assert session in server.sessions
        # The avatar plays: 512x512 VP8 frames decoded, time moving, a face (not a blank frame) on screen.
        await page.wait_for("(() => { const v = document.getElementById('avatar'); return v.readyState >= 2"
                            " && v.videoWidth === 512 && !v.paused && v.currentTime > 0.5; })()", 30)
        first = await page.evaluate(PAGE_STATE)
        await video_advances(page, 1.0)
        assert first["video"]["w"] == 512 and first["video"]["h"] == 512
        assert sorted(t["kind"] for t in first["video"]["tracks"]) == ["audio", "video"]
        assert all(t["state"] == "live" for t in first["video"]["tracks"])
        spread = await page.evaluate(FRAME_LUMA_SPREAD)
        assert spread > 20, f"the avatar's frame looks blank in Firefox (luma spread {spread:.1f})"
        assert await page.evaluate("document.getElementById('placeholder').hidden")
        await page.screenshot(test_output / "firefox-connected.png")
        # Opus and VP8 keep arriving and decoding while the avatar listens; what it says is silence.
        idle = await received_over(page, 1.0)
        assert idle["audio"]["packets"] > 0 and idle["video"]["frames"] > 0, idle
        assert idle["audio"]["energy"] < 1e-4, idle

        # A typed question: the user's words and the avatar's answer in the transcript, then speech.
        before = len(first["messages"])
        question = "What is livehuman?"
        await page.type("#text", question + ENTER)
        await page.wait_for(f"window.livehuman.messages.slice({before}).some(m => m.role === 'user'"
                            f" && m.text === {question!r})", 10)
        answer = await assistant_answer_after(page, before)
        assert "livehuman" in answer.lower(), answer
        await page.wait_for("window.livehuman.state === 'speaking'", 30)
        # Its voice reaches Firefox and decodes: audible energy, where listening had none.
        speaking = await received_over(page, 1.0)
        assert speaking["audio"]["energy"] > 0.01 and speaking["video"]["frames"] > 0, speaking
        await video_advances(page, 1.0)
        await page.screenshot(test_output / "firefox-answer.png")
        bubbles = await page.evaluate("[...document.querySelectorAll('#transcript .bubble')]"
                                      ".map(b => [b.classList.contains('user') ? 'user' : 'assistant', b.innerText])")
        assert any(role == "user" and question in text for role, text in bubbles), bubbles
        assert any(role == "assistant" and "livehuman" in text.lower() for role, text in bubbles), bubbles
        state = await page.evaluate(PAGE_STATE)
        assert not state["errors"] and not firefox.js_errors, (state["errors"], firefox.js_errors)
        assert await page.evaluate("document.getElementById('message').hidden")

        # Hanging up ends the session on the server too.
        await page.click("#hangup")
        await page.wait_for("window.livehuman.state === 'ended'", 5)
        for _ in range(50):
            if session not in server.sessions:
                break
            await asyncio.sleep(0.1)
        assert session not in server.sessions
        assert await page.evaluate("window.livehuman.connection") == "closed"
        assert await page.text("#start") == "Start again"


async def test_a_blocked_microphone_in_firefox_gets_a_clear_message_and_typing_still_works(
        firefox_path, server, tmp_path, test_output: Path):
    async with Firefox.launch(tmp_path / "profile", BLOCKED_MICROPHONE_PREFS, firefox_path) as firefox:
        page = await firefox.page(WIDTH, HEIGHT)
        await page.goto(server.url)
        await page.click("#start")
        await page.wait_for("!document.getElementById('message').hidden", 15)
        assert "microphone access was refused" in (await page.text("#message")).lower()
        await page.wait_for("window.livehuman.state === 'listening'", 30)
        assert await page.evaluate("document.getElementById('mute').disabled")
        await page.type("#text", "Does it need a GPU?")
        await page.click("#send")
        answer = await assistant_answer_after(page, 0)
        assert "graphics card" in answer.lower(), answer
        await page.wait_for("document.getElementById('avatar').videoWidth === 512", 10)
        await page.screenshot(test_output / "firefox-no-microphone.png")
        assert not firefox.js_errors, firefox.js_errors
        await page.click("#hangup")


async def test_a_busy_server_is_reported_in_firefox(firefox_path, server, tmp_path, test_output: Path):
    from livehuman.live.client import LiveClient

    # The last test's session must be gone, or its slot could free up after the browser was refused.
    await wait_sessions(server, 0, timeout=40)
    holders = [LiveClient(server.url) for _ in range(server.config.max_sessions)]
    try:
        for c in holders:
            await c.connect()
        async with Firefox.launch(tmp_path / "profile", FAKE_MEDIA_PREFS, firefox_path) as firefox:
            page = await firefox.page(WIDTH, HEIGHT)
            await page.goto(server.url)
            await page.click("#start")
            await page.wait_for("window.livehuman.state === 'failed'", 20)
            assert "busy" in (await page.text("#message")).lower()
            assert not await page.evaluate("document.getElementById('start').disabled")
            await page.screenshot(test_output / "firefox-busy.png")
            assert not firefox.js_errors, firefox.js_errors
    finally:
        for c in holders:
            await c.close()


async def test_a_browser_without_a_network_gets_the_connection_failed_message(
        firefox_path, server, routed_netns, tmp_path, test_output: Path):
    # No default route: Firefox finds no address to gather ICE candidates on, and ICE fails at once,
    # while the page is still setting up. The page must say so, and nothing else (no script error).
    before = set(server.sessions)
    default_route(routed_netns, "del")
    try:
        async with Firefox.launch(tmp_path / "profile", FAKE_MEDIA_PREFS, firefox_path) as firefox:
            page = await firefox.page(WIDTH, HEIGHT)
            await page.goto(server.url)
            await page.click("#start")
            await page.wait_for("window.livehuman.state === 'failed'", 20)
            # Past the page's ICE-gathering wait, when a stale attempt would have gone on to post its offer.
            await asyncio.sleep(6)
            state = await page.evaluate(PAGE_STATE)
            assert state["state"] == "failed" and state["connection"] == "closed"
            assert state["errors"] == ["The connection to the server failed. Check your network and start again."]
            assert await page.text("#message") == state["errors"][0]
            assert not await page.evaluate("document.getElementById('start').disabled")
            # Firefox's own console note about the failure is expected; a script error is not.
            page_errors = [e for e in firefox.js_errors if not e.startswith("WebRTC: ICE failed")]
            assert not page_errors, page_errors
            await page.screenshot(test_output / "firefox-no-network.png")
        assert not set(server.sessions) - before, "no offer may reach the server from a failed attempt"
    finally:
        default_route(routed_netns, "add")


async def test_webrtc_turned_off_in_firefox_is_explained(firefox_path, server, tmp_path, test_output: Path):
    # A common privacy setting: media.peerconnection.enabled=false removes RTCPeerConnection.
    prefs = {**FAKE_MEDIA_PREFS, "media.peerconnection.enabled": False}
    async with Firefox.launch(tmp_path / "profile", prefs, firefox_path) as firefox:
        page = await firefox.page(WIDTH, HEIGHT)
        await page.goto(server.url)
        assert await page.evaluate("typeof RTCPeerConnection") == "undefined"
        await page.click("#start")
        await page.wait_for("window.livehuman.state === 'failed'", 10)
        message = await page.text("#message")
        assert "webrtc turned off" in message.lower() and "media.peerconnection.enabled" in message, message
        assert not await page.evaluate("document.getElementById('start').disabled")
        assert not firefox.js_errors, firefox.js_errors
        await page.screenshot(test_output / "firefox-webrtc-off.png")
