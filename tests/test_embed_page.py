"""Embedding in a real browser: a shop's page on another origin uses livehuman.js and the iframe snippet.

Debian's Chromium, inside a namespace. The livehuman server allows the shop's origin (--cors-origin);
the shop's backend (this test) drives the session with the drive API (live/drive.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from helpers_live import free_port, listen, start_live_server, wait_sessions
from livehuman.live.access import Access

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--mute-audio",
         "--deny-permission-prompts"]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
FITS = {"phone": "cover", "desktop": "contain"}  # head and shoulders in a tall frame; the whole source

# The shop's page: its own <video> driven by the JS client, and the embed iframe from the snippet.
SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>A shop</title>
<style>
  body {{ margin: 0; font: 16px system-ui, sans-serif; background: #fafafa; }}
  .row {{ display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; }}
  #face {{ width: 320px; height: 320px; background: #222; border-radius: 12px; }}
  #helper {{ width: min(360px, 100%); height: 480px; border-radius: 16px; overflow: hidden; }}
</style></head>
<body>
  <h1 style="margin: 16px">Shoes &amp; more</h1>
  <div class="row">
    <div><video id="face" autoplay playsinline></video><br><button id="talk">Talk to us</button></div>
    <div id="helper" data-livehuman-embed="{server}" data-title="Ada, your shop assistant" data-name="Ada"
         data-accent="#e0562b" data-background="#f3efe6" data-color="#222222" data-fit="{fit}"
         data-text="1" data-microphone="0" data-logo="{shop}/logo.svg"></div>
  </div>
  <script src="{server}/static/livehuman.js"></script>
  <script>
    window.got = []; window.fromFrame = [];
    const human = new Livehuman({{ server: "{server}", video: document.getElementById("face"), microphone: false }});
    human.on("message", (e) => got.push(e));
    document.getElementById("talk").onclick = () => human.connect().then(
      (id) => {{ window.sessionId = id; }}, (err) => {{ window.connectError = String(err.message || err); }});
    window.addEventListener("message", (e) => {{
      if (e.origin === "{server}" && e.data && e.data.livehuman) fromFrame.push(e.data.livehuman);
    }});
  </script>
</body></html>
"""


LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><circle cx="8" cy="8" r="7" fill="#e0562b"/></svg>'


async def serve_shop(host: str, port: int, server_url: str) -> web.AppRunner:
    async def page(request: web.Request) -> web.Response:
        fit = request.query.get("fit", "contain")
        return web.Response(text=SHOP_PAGE.format(server=server_url, shop=f"http://{host}:{port}", fit=fit),
                            content_type="text/html")

    async def logo(request: web.Request) -> web.Response:
        return web.Response(text=LOGO, content_type="image/svg+xml")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/logo.svg", logo)
    runner, _ = await listen(app, host, port)
    return runner


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shop(netns):
    """(the livehuman server, the allowed shop's URL, the URL of a shop on an origin not allowed)."""
    host = netns.addresses[1]
    shop_port, stranger_port = free_port(host), free_port(host)
    shop_url, stranger_url = f"http://{host}:{shop_port}", f"http://{host}:{stranger_port}"
    live, runner = await start_live_server(netns.addresses[0], max_sessions=3, access=Access(cors_origins=(shop_url,)))
    shops = [await serve_shop(host, port, live.url) for port in (shop_port, stranger_port)]
    # One session first, so that the slow one-time loads are done before the browser's.
    from livehuman.live.client import LiveClient

    warm = LiveClient(live.url)
    await warm.connect(timeout=60)
    await warm.close()
    yield live, shop_url, stranger_url
    for shop_runner in shops:
        await shop_runner.cleanup()
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(netns, shop):
    from playwright.async_api import async_playwright

    live, shop_url, stranger_url = shop
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=QUIET + [
            f"--unsafely-treat-insecure-origin-as-secure={live.url},{shop_url},{stranger_url}"])
        yield b
        await b.close()


async def test_the_js_client_shows_the_face_and_the_backend_makes_it_speak(shop, browser):
    live, shop_url, _ = shop
    page = await browser.new_page(viewport=VIEWPORTS["desktop"])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(shop_url)
        await page.click("#talk")
        session = await (await page.wait_for_function("() => window.sessionId || window.connectError",
                                                      timeout=60000)).json_value()
        assert session in live.sessions, session  # not an error message
        await page.wait_for_function(
            "() => { const v = document.getElementById('face'); return v.readyState >= 2 && v.videoWidth === 512"
            " && !v.paused && v.currentTime > 0.5; }", timeout=30000)
        # The shop's backend makes the face speak; the page hears about it through the client's events.
        text = "Your size is back in stock."
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{live.url}/sessions/{session}/say", json={"text": text}) as response:
                assert response.status == 202, await response.text()
            # Without a token (--no-auth beyond loopback), the ids are not listed: knowing one is the key.
            async with http.get(f"{live.url}/sessions") as response:
                assert response.status == 403 and "token" in (await response.json())["error"]
        await page.wait_for_function(
            "t => got.some(e => e.type === 'transcript' && e.role === 'assistant' && e.final && e.text === t)",
            arg=text, timeout=30000)
        await page.wait_for_function("() => got.some(e => e.type === 'state' && e.state === 'speaking')", timeout=30000)
        # The page itself can make it speak too, and ask it questions.
        await page.evaluate("() => human.say('Have a look at our sale.')")
        await page.wait_for_function(
            "() => got.some(e => e.type === 'transcript' && e.role === 'assistant' && e.final"
            " && e.text === 'Have a look at our sale.')", timeout=30000)
        await page.evaluate("() => human.ask('Is it free?')")
        await page.wait_for_function(
            "() => got.some(e => e.type === 'transcript' && e.role === 'assistant' && e.final"
            " && e.text.toLowerCase().includes('free'))", timeout=40000)
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "embed-client.png"))
        assert not [e for e in await page.evaluate("() => got") if e["type"] == "error"]
        await page.evaluate("() => human.stop()")
        assert await page.evaluate("() => human.state") == "ended"
        await wait_sessions(live, 0)  # the session ends on the server too
        assert not errors, errors
    finally:
        await page.close()


@pytest.mark.parametrize("size", VIEWPORTS, ids=list(VIEWPORTS))
async def test_the_iframe_snippet_is_themed_framed_and_driven_by_its_page(shop, browser, size):
    live, shop_url, _ = shop
    viewport, fit = VIEWPORTS[size], FITS[size]
    page = await browser.new_page(viewport=viewport)
    try:
        await page.goto(f"{shop_url}/?fit={fit}")
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'ready')", timeout=15000)
        frame = page.frame_locator("#helper iframe")
        await frame.locator("#start").click()
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'connected')", timeout=30000)
        inner = next(f for f in page.frames if f.url.startswith(f"{live.url}/static/embed.html"))
        await inner.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return v.readyState >= 2 && v.videoWidth === 512"
            " && !v.paused && v.currentTime > 0.5; }", timeout=30000)
        # Themed and framed as the snippet's data attributes say; no chrome but the name and the text box.
        look = await inner.evaluate("""() => {
            const style = (el) => getComputedStyle(el);
            return {title: document.title, background: style(document.body).backgroundColor,
                    fit: style(document.getElementById('avatar')).objectFit,
                    name: document.getElementById('name').textContent,
                    logo: document.getElementById('logo').complete && document.getElementById('logo').naturalWidth,
                    accent: style(document.querySelector('.composer button')).backgroundColor,
                    start: style(document.getElementById('start')).display,
                    composer: style(document.getElementById('composer')).display !== 'none',
                    controls: style(document.getElementById('controls')).display !== 'none',
                    headings: document.querySelectorAll('h1, header, ol').length};
        }""")
        assert look == {"title": "Ada, your shop assistant", "background": "rgb(243, 239, 230)", "fit": fit,
                        "name": "Ada", "logo": 16, "accent": "rgb(224, 86, 43)", "start": "none", "composer": True,
                        "controls": False, "headings": 0}, look
        # The embedding page drives it by postMessage and hears its events; its backend can too.
        session = await page.evaluate("() => fromFrame.find(m => m.type === 'connected').session")
        assert session in live.sessions
        await page.evaluate(f"""() => document.querySelector('#helper iframe').contentWindow.postMessage(
            {{livehuman: {{type: 'say', text: 'Welcome to the shop.'}}}}, '{live.url}')""")
        await page.wait_for_function(
            "() => fromFrame.some(m => m.type === 'transcript' && m.role === 'assistant' && m.final"
            " && m.text === 'Welcome to the shop.')", timeout=30000)
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'state' && m.state === 'speaking')",
                                     timeout=30000)
        await page.wait_for_timeout(800)
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / f"embed-iframe-{size}.png"), full_page=True)
        # The text box inside the frame is usable, and inside the frame.
        frame_box = await page.locator("#helper iframe").bounding_box()
        box = await frame.locator("#text").bounding_box()
        assert box and frame_box["x"] <= box["x"] and box["x"] + box["width"] <= frame_box["x"] + frame_box["width"] + 0.5
        assert box["y"] + box["height"] <= frame_box["y"] + frame_box["height"] + 0.5
        await frame.locator("#text").fill("Is it free?")
        await frame.locator("#text").press("Enter")
        await page.wait_for_function(
            "() => fromFrame.some(m => m.type === 'transcript' && m.role === 'assistant' && m.final"
            " && m.text.toLowerCase().includes('free'))", timeout=40000)
        # A message from a page other than its parent is ignored.
        await inner.evaluate("() => window.postMessage({livehuman: {type: 'say', text: 'Not from my parent.'}}, '*')")
        await page.wait_for_timeout(1500)
        said = [m["text"] for m in await inner.evaluate("() => window.livehuman.messages")]
        assert "Not from my parent." not in said, said
        await page.evaluate(f"""() => document.querySelector('#helper iframe').contentWindow.postMessage(
            {{livehuman: {{type: 'stop'}}}}, '{live.url}')""")
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'closed')", timeout=10000)
        await wait_sessions(live, 0)
    finally:
        await page.close()


async def test_a_page_on_an_origin_not_allowed_cannot_connect(shop, browser):
    live, _, stranger_url = shop
    page = await browser.new_page(viewport=VIEWPORTS["desktop"])
    try:
        await page.goto(stranger_url)
        await page.click("#talk")
        error = await (await page.wait_for_function("() => window.connectError", timeout=30000)).json_value()
        assert error, error  # the browser hides why: the refusal carries no CORS headers
        assert await page.evaluate("() => human.state") == "failed"
        assert await page.evaluate("() => got.some(e => e.type === 'error' && e.message.startsWith('could not connect'))")
        assert not live.sessions
    finally:
        await page.close()


async def test_a_click_on_the_face_in_the_frame_is_a_touch_where_the_frame_shows_it(shop, browser):
    """fit=cover in a tall frame crops the 512x512 face, keeping it in the upper part (object-position
    50% 35%): a click on the nose as shown is placed on the nose in the video's own frame."""
    live, shop_url, _ = shop
    page = await browser.new_page(viewport=VIEWPORTS["phone"], has_touch=True, is_mobile=True)
    try:
        await page.goto(f"{shop_url}/?fit=cover")
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'ready')", timeout=15000)
        await page.frame_locator("#helper iframe").locator("#start").click()
        await page.wait_for_function("() => fromFrame.some(m => m.type === 'connected')", timeout=30000)
        session = await page.evaluate("() => fromFrame.find(m => m.type === 'connected').session")
        inner = next(f for f in page.frames if f.url.startswith(f"{live.url}/static/embed.html"))
        await inner.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return v.readyState >= 2 && v.videoWidth === 512"
            " && !v.paused && v.currentTime > 0.5; }", timeout=30000)
        frame_box = await page.locator("#helper iframe").bounding_box()
        video = await inner.evaluate("() => { const r = document.getElementById('avatar').getBoundingClientRect();"
                                     " return {x: r.left, y: r.top, w: r.width, h: r.height}; }")
        assert video["h"] > video["w"]  # a tall box: cover crops the sides
        avatar = live.sessions[session].renderer.avatar
        scale = max(video["w"], video["h"]) / 512
        nose_x, nose_y = (float(v) for v in avatar.landmarks[0][1])
        x = frame_box["x"] + video["x"] + (video["w"] - 512 * scale) * 0.5 + nose_x * scale
        y = frame_box["y"] + video["y"] + (video["h"] - 512 * scale) * 0.35 + nose_y * scale
        await page.touchscreen.tap(x, y)
        touched = await (await page.wait_for_function(
            "() => fromFrame.find(m => m.type === 'touch')", timeout=15000)).json_value()
        assert touched["zone"] == "nose", touched
        await page.wait_for_function(
            "() => fromFrame.some(m => m.type === 'transcript' && m.role === 'assistant' && m.final"
            " && m.text.includes('nose'))", timeout=40000)
        await page.evaluate(f"""() => document.querySelector('#helper iframe').contentWindow.postMessage(
            {{livehuman: {{type: 'stop'}}}}, '{live.url}')""")
        await wait_sessions(live, 0)
    finally:
        await page.close()
