"""The page's theme: a persona's [page] table and serve's --title/--accent/--logo on the page at `/`.

HTTP checks against a LiveServer's real handlers (escaping, the flags over the persona, the logo's
route); then Debian's Chromium, inside a namespace, at phone and desktop sizes with a themed persona:
title, colours, logo, nothing cut off, and the theme following a switch of persona.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from helpers_live import listen
from livehuman.brain.persona import load_persona, load_personas
from livehuman.live.access import Access
from livehuman.live.server import LiveConfig, LiveServer, PersonaSetup
from livehuman.theme import PageTheme, theme_from_flags

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--mute-audio",
         "--deny-permission-prompts"]
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")

TITLE = 'Ada <b>Shop</b> & "Co"'  # markup in a title is text on the page, never markup
LOGO = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32" viewBox="0 0 64 32">'
        '<rect width="64" height="32" rx="8" fill="#e0562b"/><circle cx="16" cy="16" r="9" fill="#fff"/></svg>')
ADA = f"""\
name = "Ada"
greeting = "Hello, I'm Ada."
[page]
title = '{TITLE}'
accent = "#e0562b"
background = "#f3efe6"
text = "#222222"
logo = "brand/logo.svg"
"""
MAX = 'name = "Max"\ngreeting = "Hi, Max here."\n[page]\naccent = "teal"\n'


def persona_files(folder: Path) -> list[Path]:
    (folder / "brand").mkdir(exist_ok=True)
    (folder / "brand" / "logo.svg").write_text(LOGO, encoding="utf-8")
    (folder / "ada.toml").write_text(ADA, encoding="utf-8")
    (folder / "max.toml").write_text(MAX, encoding="utf-8")
    return [folder / "ada.toml", folder / "max.toml"]


def page_only_server(personas, page: PageTheme | None = None, access: Access | None = None) -> LiveServer:
    """A LiveServer's handlers with these personas and no face or brain (nothing here connects)."""
    page = page or PageTheme()
    setups = {p.key: PersonaSetup(p, None, None, page.over(p.theme)) for p in personas}
    return LiveServer(LiveConfig(brain_factory=None, engine_factory=None, avatar=None, lipsync_factory=None,
                                 idle_factory=None, personas=setups, access=access or Access(), page=page))


async def test_the_page_is_themed_escaped_and_the_flags_win(tmp_path):
    personas = load_personas(persona_files(tmp_path))
    runner, url = await listen(page_only_server(personas, access=Access(token="s3cret-token")).app(), "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as r:
                html = await r.text()
            # The title is escaped text in <title> and the heading; the colours are custom properties.
            escaped = "Ada &lt;b&gt;Shop&lt;/b&gt; &amp; \"Co\""
            assert f"<title>{escaped}</title>" in html and f'<span id="title">{escaped}</span>' in html
            assert "<b>Shop" not in html
            assert '<html lang="en" style="--accent: #e0562b; --background: #f3efe6; --text: #222222">' in html
            assert '<img id="logo" class="logo" alt="" src="/logos/ada">' in html
            # The logo is public (a page asks for the token after it is shown), typed, and cannot run
            # script when opened on its own.
            async with http.get(url + "/logos/ada") as r:
                assert r.status == 200 and r.content_type == "image/svg+xml"
                assert await r.text() == LOGO
                assert "sandbox" in r.headers["Content-Security-Policy"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
            for missing in ("/logos/max", "/logos/nobody", "/logos/..%2Fada.toml"):
                async with http.get(url + missing) as r:
                    assert r.status == 404, missing
            # Each persona's theme, for the page to switch with (guarded as /personas is).
            async with http.get(url + "/personas", headers={"Authorization": "Bearer s3cret-token"}) as r:
                listed = {p["key"]: p["theme"] for p in (await r.json())["personas"]}
            assert listed == {
                "ada": {"title": TITLE, "accent": "#e0562b", "background": "#f3efe6", "text": "#222222",
                        "logo": "/logos/ada"},
                "max": {"title": None, "accent": "teal", "background": None, "text": None, "logo": None}}
    finally:
        await runner.cleanup()

    # serve --title/--accent/--logo win over every persona's own; what a persona alone sets stays.
    (tmp_path / "flag.svg").write_text(LOGO.replace("#e0562b", "#2255aa"), encoding="utf-8")
    flags = theme_from_flags(title="The Shop", accent="rgb(10 20 30)", logo=str(tmp_path / "flag.svg"))
    runner, url = await listen(page_only_server(personas, page=flags).app(), "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as r:
                html = await r.text()
            assert "<title>The Shop</title>" in html
            assert 'style="--accent: rgb(10 20 30); --background: #f3efe6; --text: #222222"' in html
            async with http.get(url + "/logos/max") as r:  # Max has no logo of his own: the flag's
                assert r.status == 200 and "#2255aa" in await r.text()
            async with http.get(url + "/personas") as r:
                assert [p["theme"]["title"] for p in (await r.json())["personas"]] == ["The Shop", "The Shop"]
    finally:
        await runner.cleanup()

    # Without any theme the page is the plain one.
    runner, url = await listen(page_only_server([load_persona()]).app(), "127.0.0.1")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as r:
                html = await r.text()
        assert "<title>livehuman</title>" in html and '<html lang="en">' in html and 'alt="" hidden>' in html
    finally:
        await runner.cleanup()


# -- in Chromium ------------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def themed_server(netns, tmp_path_factory):
    """`livehuman serve --persona ada.toml --persona max.toml`: Ada themed, Max with an accent only."""
    from livehuman.live.server import build_live_server

    files = persona_files(tmp_path_factory.mktemp("personas"))
    live = build_live_server(persona=[str(f) for f in files], max_sessions=2, render_workers=0)
    runner, live.url = await listen(live.app(), netns.addresses[0])
    from livehuman.live.client import LiveClient

    warm = LiveClient(live.url)  # the slow one-time loads, before the browser's session
    await warm.connect(timeout=60)
    await warm.close()
    yield live
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(netns, themed_server):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield browser
        await browser.close()


LOOK = """() => {
  const style = (id) => getComputedStyle(document.getElementById(id));
  const logo = document.getElementById('logo');
  const title = document.getElementById('title');
  return {title: document.title, heading: title.textContent, markup: document.querySelectorAll('h1 b').length,
          truncated: title.scrollWidth > title.clientWidth + 1,
          accent: style('start').backgroundColor, onAccent: style('start').color,
          send: style('send').backgroundColor,
          background: getComputedStyle(document.documentElement).getPropertyValue('--background').trim(),
          text: getComputedStyle(document.body).color,
          logo: !logo.hidden && logo.complete && logo.naturalWidth, logoHeight: logo.getBoundingClientRect().height,
          scheme: getComputedStyle(document.documentElement).colorScheme};
}"""


async def inside_viewport(page, selector: str, viewport: dict) -> dict:
    box = await page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not displayed"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= viewport["width"] + 0.5, (selector, box, viewport)
    assert box["y"] + box["height"] <= viewport["height"] + 0.5, (selector, box, viewport)
    return box


@needs_chromium
@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}],
                         ids=["phone", "desktop"])
async def test_a_themed_persona_themes_the_page_at_phone_and_desktop_sizes(themed_server, chromium, viewport):
    size = f"{viewport['width']}x{viewport['height']}"
    page = await chromium.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(themed_server.url)
        await page.wait_for_function("() => window.livehuman.personas.length === 2", timeout=10000)
        await page.wait_for_function("() => document.getElementById('logo').complete", timeout=10000)
        look = await page.evaluate(LOOK)
        assert look == {"title": TITLE, "heading": TITLE, "markup": 0, "truncated": False,
                        "accent": "rgb(224, 86, 43)", "onAccent": "rgb(255, 255, 255)", "send": "rgb(224, 86, 43)",
                        "background": "#f3efe6", "text": "rgb(34, 34, 34)", "logo": 64,
                        "logoHeight": look["logoHeight"], "scheme": "light"}, look
        assert look["logoHeight"] >= 16, look
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / f"page-theme-{size}.png"))
        for selector in ("#logo", "#title", "#persona", "#status", "#start", "#text", "#send", "#avatar"):
            await inside_viewport(page, selector, viewport)
        # In a conversation: the face, the greeting under Ada's name, all still on screen and themed.
        await page.click("#start")
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text === \"Hello, I'm Ada.\")",
            timeout=40000)
        await page.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return v.readyState >= 2 && v.currentTime > 0.5; }",
            timeout=30000)
        await page.wait_for_timeout(500)
        await page.screenshot(path=str(OUTPUT / f"page-theme-{size}-talking.png"))
        for selector in ("#logo", "#title", "#persona", "#status", "#text", "#send", "#avatar", "#hangup"):
            await inside_viewport(page, selector, viewport)
        assert await page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight + 1")
        assert await page.evaluate("() => getComputedStyle(document.getElementById('send')).backgroundColor") \
            == "rgb(224, 86, 43)"
        assert not (await page.evaluate("() => window.livehuman.errors")) and not errors, errors
        await page.click("#hangup")
    finally:
        await page.close()


@needs_chromium
async def test_the_theme_follows_a_switch_of_persona(themed_server, chromium):
    page = await chromium.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(themed_server.url)
        await page.wait_for_function("() => window.livehuman.personas.length === 2", timeout=10000)
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.persona && window.livehuman.persona.key === 'ada'",
                                     timeout=40000)
        # Max: his accent, the page's own title, background and text, no logo; the connection is his.
        await page.select_option("#persona", "max")
        await page.wait_for_function("() => window.livehuman.persona && window.livehuman.persona.key === 'max'",
                                     timeout=40000)
        look = await page.evaluate(LOOK)
        assert (look["title"], look["heading"], look["logo"], look["background"]) == ("livehuman", "livehuman", False, "#0f1217"), look
        assert look["send"] == "rgb(0, 128, 128)" and look["text"] == "rgb(232, 235, 240)", look
        assert await page.locator("#logo").is_hidden()
        await page.screenshot(path=str(OUTPUT / "page-theme-switched.png"))
        # And back to Ada: her look again.
        await page.select_option("#persona", "ada")
        await page.wait_for_function("() => window.livehuman.persona && window.livehuman.persona.key === 'ada'",
                                     timeout=40000)
        look = await page.evaluate(LOOK)
        assert (look["title"], look["send"], look["background"], look["logo"]) == (
            TITLE, "rgb(224, 86, 43)", "#f3efe6", 64), look
        assert not errors, errors
        await page.click("#hangup")
    finally:
        await page.close()
