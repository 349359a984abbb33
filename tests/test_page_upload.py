"""Avatars made in the page, in Debian's Chromium: upload a photo, follow its preparation, talk to it."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytest_asyncio

from helpers_live import start_live_server

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--mute-audio",
         "--deny-permission-prompts"]

# The video's current picture as a PNG data URL.
GRAB = """() => { const v = document.getElementById('avatar'); const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight; c.getContext('2d').drawImage(v, 0, 0);
  return c.toDataURL('image/png'); }"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    live, runner = await start_live_server(netns.addresses[0], max_sessions=2)
    yield live
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright(netns):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


async def test_a_photo_uploaded_in_the_page_is_prepared_and_talks(server, playwright, astronaut_path, tmp_path):
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.url)
        OUTPUT.mkdir(exist_ok=True)
        # Something that is not a photo: refused, with the server's reason in the page.
        notes = tmp_path / "notes.png"
        notes.write_text("not a picture at all\n" * 20)
        await page.set_input_files("#upload-file", str(notes))
        await page.wait_for_function("() => window.livehuman.upload && window.livehuman.upload.state === 'failed'",
                                     timeout=20000)
        status = await page.locator("#upload-status").inner_text()
        assert status.startswith("Upload refused") and "not a photo or a video" in status, status
        await page.screenshot(path=str(OUTPUT / "page-upload-refused.png"))
        # A real photo: uploaded, prepared (the bar reaches 100 %), then the conversation uses it.
        await page.set_input_files("#upload-file", str(astronaut_path))
        await page.wait_for_function("() => window.livehuman.avatar !== null", timeout=120000)
        state = await page.evaluate("() => window.livehuman.upload")
        assert state["state"] == "ready" and state["progress"] == 1.0, state
        assert await page.locator("#upload-progress").get_attribute("value") == "100"
        assert "ready" in (await page.locator("#upload-status").inner_text())
        assert await page.locator("#upload-clear").is_visible()  # and a way back to the usual face
        await page.screenshot(path=str(OUTPUT / "page-upload-ready.png"))
        await page.click("#start")
        await page.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return v.readyState >= 2 && v.videoWidth === 512"
            " && !v.paused && v.currentTime > 1.0; }", timeout=60000)
        url = await page.evaluate(GRAB)
        frame = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        source = cv2.imread(str(astronaut_path))
        to_upload = float(np.abs(frame.astype(np.int16) - source).mean())
        to_default = float(np.abs(frame.astype(np.int16) - server.config.avatar.frames[0]).mean())
        assert to_upload < 15 and to_upload < 0.3 * to_default, (to_upload, to_default)
        # It talks: a typed question gets an answer.
        await page.wait_for_function("() => window.livehuman.state === 'listening'", timeout=30000)
        await page.fill("#text", "Is it free?")
        await page.press("#text", "Enter")
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text.length > 0)", timeout=60000)
        await page.wait_for_timeout(800)
        await page.screenshot(path=str(OUTPUT / "page-upload-talking.png"))
        session = (await page.evaluate("() => window.livehuman.session"))
        assert session in server.sessions
        assert server.sessions[session].renderer.avatar.name == state["name"]
        upload_errors = [e for e in await page.evaluate("() => window.livehuman.errors") if not e.startswith("upload:")]
        assert not upload_errors and not errors, (upload_errors, errors)
        await page.click("#hangup")
    finally:
        await browser.close()
