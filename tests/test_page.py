"""The page in a real browser: Debian's Chromium with a fake microphone speaking a WAV, in a namespace."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from helpers_live import speech_wav, start_live_server, wait_sessions

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--mute-audio"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    live, runner = await start_live_server(netns.addresses[0], max_sessions=2)
    # One session first, so the slow one-time loads (sentence embedder, ASR) are done before the
    # browser's fake microphone starts speaking.
    from livehuman.live.client import LiveClient

    warm = LiveClient(live.url)
    await warm.connect()
    await warm.close()
    yield live
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright(netns):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


def secure(server) -> list[str]:
    # The microphone needs a secure context: localhost or https. The namespace's 10.x address is
    # neither, so tell Chromium to treat it as secure (a real user opens http://127.0.0.1:8080).
    return [f"--unsafely-treat-insecure-origin-as-secure={server.url}"]


async def page_state(page) -> dict:
    return await page.evaluate("() => ({...window.livehuman, video: (() => { const v = document.getElementById('avatar');"
                               " return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime, paused: v.paused,"
                               " ready: v.readyState}; })()})")


async def test_the_page_talks_with_the_microphone(server, playwright, tmp_path):
    question = speech_wav("What is livehuman?", tmp_path / "question.wav", lead_silence=6.0)
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + secure(server) + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={question}%noloop"])
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.url)
        assert await page.title() == "livehuman"
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "page-start.png"))
        await page.click("#start")
        # The avatar's video plays: 512x512 frames, time moving.
        await page.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return v.readyState >= 2 && v.videoWidth === 512"
            " && !v.paused && v.currentTime > 0.5; }", timeout=30000)
        await page.screenshot(path=str(OUTPUT / "page-connected.png"))
        # The fake microphone asks; the transcript shows the user's words and the answer.
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'user' && m.text.length > 0)", timeout=40000)
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text.length > 0)", timeout=40000)
        await page.wait_for_function("() => window.livehuman.state === 'speaking'", timeout=30000)
        await page.wait_for_timeout(1500)
        await page.screenshot(path=str(OUTPUT / "page-answer.png"))
        state = await page_state(page)
        user = [m["text"] for m in state["messages"] if m["role"] == "user"]
        answer = [m["text"] for m in state["messages"] if m["role"] == "assistant"]
        assert any("what" in u.lower() for u in user), user
        assert any("livehuman" in a.lower() for a in answer), (user, answer)  # (the words heard, if misheard)
        assert state["video"]["w"] == 512 and state["video"]["h"] == 512
        bubbles = await page.locator("#transcript .bubble").all_inner_texts()
        assert len(bubbles) >= 2
        assert not state["errors"] and not errors, (state["errors"], errors)
        # Typing works too.
        await page.fill("#text", "Is it free?")
        await page.press("#text", "Enter")
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text.toLowerCase().includes('free'))",
            timeout=40000)
        await page.screenshot(path=str(OUTPUT / "page-typed.png"))
        # Hanging up ends the session on the server too.
        session = state["session"]
        assert session in server.sessions
        await page.click("#hangup")
        await page.wait_for_function("() => window.livehuman.state === 'ended'", timeout=5000)
        for _ in range(100):
            if session not in server.sessions:
                break
            await page.wait_for_timeout(100)
        assert session not in server.sessions
    finally:
        await browser.close()


async def test_a_server_that_never_answers_is_said_after_20_s_and_the_visitor_may_give_up(server, playwright):
    """A server that takes the offer and never answers (stopped, overloaded, a proxy holding the
    request) left the page "connecting…" for good, Start and Hang up both disabled."""
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    try:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.route("**/offer", lambda route: None)  # the request is taken and never answered
        await page.goto(server.url)
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.state === 'connecting'", timeout=10000)
        assert not await page.is_disabled("#hangup")  # the visitor may give up meanwhile
        await page.wait_for_function("() => window.livehuman.state === 'failed'", timeout=30000)
        message = await page.inner_text("#message")
        assert "did not answer within 20 s" in message, message
        assert not await page.is_disabled("#start") and not errors
        # Giving up while it connects: Hang up ends the attempt at once.
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.state === 'connecting'", timeout=10000)
        await page.click("#hangup")
        await page.wait_for_function("() => window.livehuman.state === 'ended'", timeout=5000)
        assert not await page.is_disabled("#start") and not errors
    finally:
        await browser.close()


async def test_a_refused_microphone_gets_a_clear_message_and_typing_still_works(server, playwright):
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + secure(server) + [
        "--use-fake-device-for-media-stream", "--deny-permission-prompts"])
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        await page.goto(server.url)
        await page.click("#start")
        message = page.locator("#message")
        await message.wait_for(state="visible", timeout=15000)
        assert "microphone access was refused" in (await message.inner_text()).lower()
        await page.wait_for_function("() => window.livehuman.state === 'listening'", timeout=30000)
        await page.fill("#text", "Does it need a GPU?")
        await page.click("#send")
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text.length > 0)", timeout=40000)
        assert await page.locator("#mute").is_disabled()
        await page.screenshot(path=str(OUTPUT / "page-no-microphone.png"))
        # Without a microphone the server cannot notice silence: hanging up is what ends it at once.
        await page.click("#hangup")
    finally:
        await browser.close()


async def inside_viewport(page, selector: str, viewport: dict) -> dict:
    box = await page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not displayed"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= viewport["width"] + 0.5, (selector, box, viewport)
    assert box["y"] + box["height"] <= viewport["height"] + 0.5, (selector, box, viewport)
    return box


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}],
                         ids=["phone", "desktop"])
async def test_the_page_fits_phones_and_desktops_through_a_conversation(server, playwright, viewport):
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    try:
        page = await browser.new_page(viewport=viewport)
        await page.goto(server.url)
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.state === 'listening'", timeout=30000)
        for question in ("Is it free?", "Does it need a GPU?", "What is livehuman?"):
            await page.fill("#text", question)
            await page.click("#send")
            await page.wait_for_function(
                "n => window.livehuman.messages.filter(m => m.role === 'assistant').length >= n",
                arg=1 + ("Is it free?", "Does it need a GPU?", "What is livehuman?").index(question), timeout=40000)
        await page.wait_for_timeout(300)
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / f"page-{viewport['width']}x{viewport['height']}.png"))
        # After three exchanges the text box, Send and the face are still all on screen, the page
        # itself does not scroll, and the newest message is the one in view.
        await inside_viewport(page, "#text", viewport)
        await inside_viewport(page, "#send", viewport)
        video = await inside_viewport(page, "#avatar", viewport)
        assert video["height"] >= 0.25 * viewport["height"], video
        assert await page.evaluate("() => document.scrollingElement.scrollHeight <= window.innerHeight + 1")
        await inside_viewport(page, "#transcript .bubble:last-child", viewport)
        await page.click("#hangup")
    finally:
        await browser.close()


async def test_a_busy_server_is_reported_on_the_page(server, playwright):
    from livehuman.live.client import LiveClient

    # The browser starts and loads the page before the slots are taken: on a starved machine its
    # start took 37 s, and the holders (two sessions streaming to two clients, all in this one
    # process) lost their ICE consent in that time (aioice waits 0.5 s for each check's answer), so
    # their places were free again when the page asked.
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    holders = [LiveClient(server.url) for _ in range(server.config.max_sessions)]
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        await page.goto(server.url)
        # The last test's session must be gone, or its slot could free up after the browser was refused.
        await wait_sessions(server, 0, timeout=40)
        for c in holders:
            await c.connect()
        assert server.active == server.config.max_sessions
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.state === 'failed'", timeout=20000)
        assert "busy" in (await page.locator("#message").inner_text()).lower()
        assert await page.locator("#start").is_enabled()
        await page.screenshot(path=str(OUTPUT / "page-busy.png"))
    finally:
        await browser.close()
        for c in holders:
            await c.close()


# -- personas: the greeting, the persona's name, emotions, and switching ----------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "personas"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def persona_server(netns):
    """A server as `livehuman serve --persona examples/personas/` makes it (Ava and Max)."""

    from helpers_live import listen
    from livehuman.live.server import build_live_server

    live = build_live_server(persona=[str(EXAMPLES)], max_sessions=2, render_workers=0)
    runner, live.url = await listen(live.app(), netns.addresses[0])
    yield live
    await runner.cleanup()


async def test_the_persona_greets_by_name_shows_emotions_and_can_be_switched(persona_server, playwright):
    from livehuman.brain.persona import load_persona

    ava, maxi = load_persona(EXAMPLES / "ava.toml"), load_persona(EXAMPLES / "max.toml")
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(persona_server.url)
        # Two personas: the page lists them before the conversation starts, the default first.
        await page.wait_for_function("() => window.livehuman.personas.length === 2", timeout=10000)
        assert await page.locator("#persona option").all_inner_texts() == ["Ava", "Max"]
        assert await page.locator("#persona").is_visible()
        assert await page.locator("#intro").inner_text() == "Talk with Ava, live."
        await page.click("#start")
        # Start opens with the greeting: said in the transcript under Ava's name, and spoken.
        await page.wait_for_function(
            "g => window.livehuman.messages.some(m => m.role === 'assistant' && m.text === g)", arg=ava.greeting,
            timeout=40000)
        first = page.locator("#transcript .bubble.assistant").first
        assert (await first.locator(".who").inner_text()).lower().startswith("ava")
        assert "AVATAR" not in (await first.inner_text()).upper().split()
        await page.wait_for_function("() => window.livehuman.state === 'speaking'", timeout=20000)
        await page.wait_for_timeout(1200)
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "page-greeting.png"))
        await page.wait_for_function("() => window.livehuman.state === 'listening'", timeout=40000)
        # A sad message: the page shows the emotion read, the answer's empathy and the face's concern.
        await page.fill("#text", "I feel so sad today, my dog died.")
        await page.press("#text", "Enter")
        await page.wait_for_function(
            "() => window.livehuman.emotions.some(e => e.role === 'assistant' && e.label === 'concern')", timeout=40000)
        assert await page.locator("#mood").inner_text() == "you seem sad"
        user_tag = page.locator("#transcript .bubble.user .feel").last
        assert await user_tag.inner_text() == "sad"
        await page.wait_for_function(
            "() => window.livehuman.messages.some(m => m.role === 'assistant' && m.text.startsWith(\"I'm so sorry\"))",
            timeout=40000)
        assert await page.locator("#transcript .bubble.assistant .feel").last.inner_text() == "concerned"
        await page.wait_for_timeout(800)
        await page.screenshot(path=str(OUTPUT / "page-empathy.png"))
        # Switching to Max ends this conversation and starts one with him: his greeting, his name.
        before = (await page_state(page))["session"]
        await page.select_option("#persona", "max")
        await page.wait_for_function(
            "g => window.livehuman.messages.some(m => m.role === 'assistant' && m.text === g)", arg=maxi.greeting,
            timeout=40000)
        state = await page_state(page)
        assert state["session"] != before and state["persona"]["name"] == "Max"
        last = page.locator("#transcript .bubble.assistant").last
        assert (await last.locator(".who").inner_text()).lower().startswith("max")
        assert not state["errors"] and not errors, (state["errors"], errors)
        # A backend asks for Ava again (the drive API): the page follows, a new conversation with her.
        before = state["session"]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{persona_server.url}/sessions/{before}/persona", json={"persona": "ava"}) as answer:
                assert answer.status == 202 and (await answer.json())["switched"] is True
        await page.wait_for_function(
            "s => window.livehuman.session && window.livehuman.session !== s"
            " && window.livehuman.persona && window.livehuman.persona.name === 'Ava'", arg=before, timeout=40000)
        assert await page.locator("#persona").input_value() == "ava"
        assert await page.locator("#intro").inner_text() == "Talk with Ava, live."
        # On a phone the header still holds the list and the state.
        phone = {"width": 390, "height": 844}
        await page.set_viewport_size(phone)
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(OUTPUT / "page-personas-390x844.png"))
        await inside_viewport(page, "#persona", phone)
        await inside_viewport(page, "#status", phone)
        await inside_viewport(page, "#text", phone)
        await page.click("#hangup")
    finally:
        await browser.close()


async def test_the_embedded_face_follows_the_switch_its_backend_asks_for(persona_server, playwright):
    """livehuman.js (here in the embed page) reconnects by itself when told to switch persona."""
    from livehuman.brain.persona import load_persona

    maxi = load_persona(EXAMPLES / "max.toml")
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    try:
        page = await browser.new_page(viewport={"width": 480, "height": 640})
        await page.goto(f"{persona_server.url}/static/embed.html?microphone=false&text=true")
        await page.click("#start")
        first = await (await page.wait_for_function("() => window.livehuman.session", timeout=40000)).json_value()
        assert persona_server.sessions[first].persona.key == "ava"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{persona_server.url}/sessions/{first}/persona", json={"persona": "max"}) as answer:
                assert answer.status == 202
        await page.wait_for_function(
            "g => window.livehuman.messages.some(m => m.role === 'assistant' && m.text === g)", arg=maxi.greeting,
            timeout=40000)
        second = await page.evaluate("() => window.livehuman.session")
        assert second != first and persona_server.sessions[second].persona.key == "max"
        await wait_sessions(persona_server, 1)  # the first conversation ended with the switch
        assert first not in persona_server.sessions
        assert not await page.evaluate("() => window.livehuman.errors"), "the switch said an error"
    finally:
        await browser.close()


# -- touch: a click or tap on the face ---------------------------------------------------------------

async def nose_on_page(page, avatar) -> tuple[float, float]:
    """Where the avatar's nose tip is on the page: its landmark in the frame, placed as the video
    shows the frame (object-fit: cover fills the box and crops what overflows, centred)."""
    box = await page.locator("#avatar").bounding_box()
    width, height = avatar.size
    scale = max(box["width"] / width, box["height"] / height)
    x, y = avatar.landmarks[0][1]
    return (box["x"] + (box["width"] - width * scale) / 2 + float(x) * scale,
            box["y"] + (box["height"] - height * scale) / 2 + float(y) * scale)


@pytest.mark.parametrize("device", ["desktop", "phone"])
async def test_clicking_or_tapping_the_faces_nose_makes_it_react(server, playwright, device):
    import itertools

    from livehuman.live.touch import LINES

    phone = device == "phone"
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET + ["--deny-permission-prompts"])
    try:
        viewport = {"width": 390, "height": 844} if phone else {"width": 1200, "height": 760}
        page = await browser.new_page(viewport=viewport, has_touch=phone, is_mobile=phone)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.url)
        await page.click("#start")
        await page.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return window.livehuman.state === 'listening'"
            " && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0.5; }", timeout=30000)
        session = server.sessions[(await page_state(page))["session"]]
        session.touches.clock = lambda ticks=itertools.count(0, 10): next(ticks)  # no touch is too soon here
        avatar = session.renderer.avatar
        assert await page.evaluate("() => getComputedStyle(document.getElementById('avatar')).cursor") == "pointer"

        async def touch(x: float, y: float) -> None:
            if phone:
                await page.touchscreen.tap(x, y)
            else:
                await page.mouse.click(x, y)

        await touch(*await nose_on_page(page, avatar))
        await page.wait_for_function("() => window.livehuman.touches.length === 1", timeout=10000)
        await page.wait_for_timeout(250)  # the ripple and the label, mid-way
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / f"page-touch-{device}.png"))
        assert (await page_state(page))["touches"][0]["zone"] == "nose"
        line = LINES["en"]["nose"]
        await page.wait_for_function(
            "t => window.livehuman.messages.some(m => m.role === 'assistant' && m.text === t)", arg=line, timeout=40000)
        assert await page.locator("#transcript .bubble.assistant .feel").last.inner_text() == "surprised"
        # A video box of another shape: the click is placed in the frame as object-fit crops it.
        await page.evaluate("() => { document.getElementById('avatar').style.height = '55%'; }")
        await touch(*await nose_on_page(page, avatar))
        await page.wait_for_function("() => window.livehuman.touches.length === 2", timeout=10000)
        assert (await page_state(page))["touches"][1]["zone"] == "nose"
        state = await page_state(page)
        assert not state["errors"] and not errors, (state["errors"], errors)
        await page.click("#hangup")
    finally:
        await browser.close()
