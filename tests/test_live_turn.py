"""A real TURN relay: coturn's turnserver in the test's network namespace, a server given it with
`--turn-secret` (coturn's TURN REST credentials), and a page in Chromium that may only use relayed
candidates (`iceTransportPolicy: "relay"`, what a visitor behind a strict firewall is left with).
The conversation goes through the relay: the page sees the face move and hears the answer.

coturn is Debian's (scripts/setup.sh unpacks its binary for the tests rather than installing the
package, which would start a TURN daemon on the machine).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import pytest_asyncio

from helpers_live import free_port, start_live_server
from livehuman.live.access import Access
from livehuman.live.ice import ice_settings

ROOT = Path(__file__).resolve().parent.parent
UNPACKED = ROOT / ".venv/share/livehuman/test-tools/coturn/usr/bin/turnserver"
TURNSERVER = str(UNPACKED) if UNPACKED.exists() else shutil.which("turnserver")
CHROMIUM = "/usr/bin/chromium"
TOKEN = "turn-test-token"
SECRET = "turn-test-secret"

pytestmark = [pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.skipif(TURNSERVER is None, reason="coturn's turnserver is missing: run scripts/setup.sh"),
              pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def turnserver(netns, tmp_path_factory):
    """coturn on the namespace's first address; yields (its URL, its log file)."""
    host = netns.addresses[0]
    port = free_port(host)
    folder = tmp_path_factory.mktemp("coturn")
    log = folder / "turn.log"
    proc = subprocess.Popen([
        TURNSERVER, "-n", "--listening-ip", host, "--relay-ip", host, "--listening-port", str(port),
        "--min-port", "49200", "--max-port", "49300", "--use-auth-secret", "--static-auth-secret", SECRET,
        "--realm", "livehuman.test", "--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers",
        "--db", str(folder / "turndb"), "--pidfile", str(folder / "turn.pid"), "--log-file", "stdout",
        "--simple-log", "--verbose"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "listener opened" not in log.read_text() and "Total UDP servers" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield f"turn:{host}:{port}", log
    finally:
        proc.terminate()
        proc.wait(10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def relayed(netns, turnserver):
    url, log = turnserver
    ice = ice_settings([url], secret=SECRET)
    live, runner = await start_live_server(netns.addresses[0], max_sessions=2, ice=ice, access=Access(token=TOKEN))
    yield live, log
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright(netns):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


# What the page has received so far, and over which kind of candidate of its own.
RECEIVED = """async () => {
    const report = await window.relayed.pc.getStats();
    let pair = null, packets = 0, frames = 0;
    report.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
        if (s.type === "inbound-rtp" && s.kind === "audio") packets = s.packetsReceived || 0;
        if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
    });
    const local = pair ? report.get(pair.localCandidateId).candidateType : null;
    return { local, frames, packets, answered: window.states.includes("speaking") };
}"""


async def test_a_page_that_may_only_relay_talks_through_the_turn_server(relayed, playwright):
    live, log = relayed
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-background-networking", "--mute-audio", "--autoplay-policy=no-user-gesture-required"])
    try:
        page = await browser.new_page()
        await page.goto(f"{live.url}/static/embed.html?microphone=false#token={TOKEN}")
        await page.evaluate("""async (token) => {
            const video = document.createElement("video");
            video.muted = true; video.playsInline = true; video.autoplay = true;
            document.body.append(video);
            const human = window.relayed = new Livehuman({ server: location.origin, token, microphone: false, video,
                                                          iceTransportPolicy: "relay" });
            window.states = [];
            human.on("state", (e) => window.states.push(e.state));
            await human.connect();
        }""", TOKEN)
        await page.wait_for_function("() => window.relayed.state === 'listening'", timeout=60000)
        await page.evaluate("() => window.relayed.ask('What is livehuman?')")
        # The answer's audio and the face's frames arrive, and the pair carrying them is the relay's.
        deadline = time.monotonic() + 90
        figures = await page.evaluate(RECEIVED)
        while not (figures["frames"] >= 50 and figures["packets"] >= 50 and figures["answered"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            figures = await page.evaluate(RECEIVED)
    finally:
        await browser.close()
    text = log.read_text()
    assert figures["frames"] >= 50 and figures["packets"] >= 50 and figures["answered"], (figures, text[-3000:])
    assert figures["local"] == "relay", figures
    # coturn allocated a relay for the page with the server's TURN REST credentials ("expiry:user").
    assert "ALLOCATE" in text and "success" in text, text[-3000:]
    assert re.search(r"username=<\d+:livehuman>", text), text[-3000:]
