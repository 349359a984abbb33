"""Who may use `livehuman serve`: the access token, Origin checks and CORS (live/access.py).

Real HTTP against real LiveServers; the openai SDK on /v1/realtime; Chromium for the page's token
prompt and for a page on a second origin (inside a network namespace: WebRTC never leaves it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from helpers_live import listen, wait_sessions
from livehuman.errors import LivehumanError
from livehuman.live.access import Access, access_settings, is_loopback

in_module_loop = pytest.mark.asyncio(loop_scope="module")

TOKEN = "s3cret-Token_42"
CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
QUIET = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--mute-audio"]
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def parts():
    """One face and one offline-brain factory shared by every server of this module (drawn in-process)."""
    from livehuman.live.server import default_face_factories, local_brain_factory

    brains = local_brain_factory()
    yield default_face_factories("default", render_workers=0), brains
    brains.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def serve(parts):
    """`await serve(host, access)`: a real LiveServer with /v1/realtime, stopped after the module."""
    from livehuman.live.server import LiveConfig, LiveServer

    face, brains = parts
    runners = []

    async def start(host: str, access: Access, max_sessions: int = 2) -> LiveServer:
        live = LiveServer(LiveConfig(brain_factory=brains, engine_factory=face.engine_factory, avatar=face.avatar,
                                     lipsync_factory=face.lipsync_factory, idle_factory=face.idle_factory,
                                     realtime_brain_factory=brains, max_sessions=max_sessions, access=access))
        runner, live.url = await listen(live.app(), host)
        runners.append(runner)
        live.port = int(live.url.rsplit(":", 1)[1])
        return live

    yield start
    for runner in runners:
        await runner.cleanup()


async def post_offer(url: str, body: str = "not json", content_type: str = "application/json",
                     **headers: str) -> tuple[int, dict, dict]:
    """POST /offer; (status, JSON body, response headers)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/offer", data=body, headers={"Content-Type": content_type, **headers}) as r:
            return r.status, await r.json(content_type=None), dict(r.headers)


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as r:
            return r.status, await r.text()


# -- the rules from serve's options -----------------------------------------------------------------


def test_beyond_loopback_a_token_or_no_auth_is_required(caplog):
    with pytest.raises(LivehumanError, match="needs an access token.*--token.*LIVEHUMAN_TOKEN.*--no-auth"):
        access_settings(loopback=False)
    assert access_settings(loopback=False, token=TOKEN) == Access(token=TOKEN)
    with caplog.at_level("WARNING", logger="livehuman.live"):
        assert access_settings(loopback=False, no_auth=True) == Access()
    assert "without an access token" in caplog.text
    # On loopback nothing is needed; without a token such a server answers loopback names only.
    assert access_settings(loopback=True) == Access(loopback_only=True)
    assert access_settings(loopback=True, token=TOKEN) == Access(token=TOKEN)
    with pytest.raises(LivehumanError, match="--token and --no-auth"):
        access_settings(loopback=False, token=TOKEN, no_auth=True)
    with pytest.raises(LivehumanError, match="no spaces"):
        access_settings(loopback=False, token="two words")
    with pytest.raises(LivehumanError, match="no spaces"):
        access_settings(loopback=False, token="")
    # What a bound socket reports, IPv4, IPv6 and mapped.
    assert all(is_loopback(a) for a in ("127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"))
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "10.1.2.3", "192.168.1.5", "fe80::1%eth0", "localhost"))


def test_cors_origins_are_checked_and_written_as_browsers_write_them():
    access = access_settings(True, cors_origins=["HTTPS://Example.com:443/", "http://localhost:3000",
                                                 "http://[::1]:80", "http://localhost:3000"])
    assert access.cors_origins == ("https://example.com", "http://localhost:3000", "http://[::1]")
    assert access.allows_origin("https://example.com") and not access.allows_origin("https://example.org")
    for bad in ("example.com", "https://example.com/page", "ftp://example.com", "https://", "http://x:99999"):
        with pytest.raises(LivehumanError, match="is not an origin"):
            access_settings(True, cors_origins=[bad])
    with pytest.raises(LivehumanError, match=r"'\*'.*needs an access token"):
        access_settings(True, cors_origins=["*"])
    assert access_settings(False, token=TOKEN, cors_origins=["*"]).allows_origin("https://anywhere.example")


# -- a server without a token -----------------------------------------------------------------------


@in_module_loop
async def test_without_a_token_other_sites_and_other_names_are_refused(serve):
    server = await serve("127.0.0.1", Access(loopback_only=True))
    own = f"http://127.0.0.1:{server.port}"
    # No Origin (an API client) or the server's own origin: past the checks, to the offer's own (415, 400).
    assert (await post_offer(server.url, content_type="text/plain"))[0] == 415
    assert (await post_offer(server.url, Origin=own))[0] == 400
    status, body, headers = await post_offer(server.url, Origin=f"http://localhost:{server.port}",
                                             Host=f"localhost:{server.port}")
    assert status == 400, body
    # Another site's page, through a visitor's browser: refused, and told how to allow it.
    status, body, headers = await post_offer(server.url, Origin="http://evil.example")
    assert status == 403 and "--cors-origin http://evil.example" in body["error"]
    assert "Access-Control-Allow-Origin" not in headers
    status, _, _ = await post_offer(server.url, Origin=f"http://127.0.0.1:{server.port + 1}")  # another port
    assert status == 403
    assert (await post_offer(server.url, Origin="null"))[0] == 403  # a sandboxed frame, a file:// page
    # DNS rebinding: the site's own name now resolves to 127.0.0.1, so its Origin matches its Host.
    status, body, _ = await post_offer(server.url, Origin=f"http://evil.example:{server.port}",
                                       Host=f"evil.example:{server.port}")
    assert status == 403 and "localhost" in body["error"]
    # Preflights from other sites are refused too (no CORS allowed).
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{server.url}/offer", headers={
                "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
        # The WebSocket too: a page on another site cannot open /v1/realtime.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{server.url}/v1/realtime", headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
    # The page, its files and the health check stay public.
    for path in ("/", "/static/app.js", "/healthz"):
        assert (await get(server.url + path, Origin="http://evil.example", Host=f"evil.example:{server.port}"))[0] == 200
    status, page = await get(server.url + "/")
    assert '<meta name="livehuman-access" content="open">' in page


# -- a server with a token ---------------------------------------------------------------------------


@in_module_loop
async def test_with_a_token_offers_need_it(serve):
    server = await serve("127.0.0.1", Access(token=TOKEN))
    status, body, headers = await post_offer(server.url)
    assert status == 401 and "Authorization: Bearer" in body["error"]
    assert headers["WWW-Authenticate"] == "Bearer"
    status, body, _ = await post_offer(server.url, Authorization="Bearer wrong-token")
    assert status == 401 and "wrong" in body["error"]
    assert (await post_offer(server.url, Authorization=f"Basic {TOKEN}"))[0] == 401
    assert (await post_offer(server.url, Authorization=f"Bearer {TOKEN}x"))[0] == 401
    # The right token: on to the offer's own checks.
    assert (await post_offer(server.url, Authorization=f"Bearer {TOKEN}"))[0] == 400
    assert (await post_offer(server.url, content_type="text/plain", Authorization=f"bearer {TOKEN}"))[0] == 415
    # A token does not open the server to other sites' pages.
    assert (await post_offer(server.url, Origin="http://evil.example", Authorization=f"Bearer {TOKEN}"))[0] == 403
    # With a token, other names are fine (a reverse proxy, a LAN name): the token is the guard.
    assert (await post_offer(server.url, Host="livehuman.example", Authorization=f"Bearer {TOKEN}"))[0] == 400
    # The page says it needs the token; it and its files stay public.
    status, page = await get(server.url + "/")
    assert status == 200 and '<meta name="livehuman-access" content="token">' in page
    assert (await get(server.url + "/static/app.js"))[0] == 200
    assert (await get(server.url + "/healthz"))[0] == 200
    assert (await get(server.url + "/no-such-route"))[0] == 401  # guarded unless public: nothing to learn


@in_module_loop
async def test_with_a_token_metrics_and_stats_need_it_and_health_and_readiness_do_not(serve):
    server = await serve("127.0.0.1", Access(token=TOKEN))
    for path in ("/metrics", "/stats"):
        assert (await get(server.url + path))[0] == 401, path
        assert (await get(server.url + path, Authorization="Bearer wrong-token"))[0] == 401, path
        assert (await get(server.url + path, Authorization=f"Bearer {TOKEN}"))[0] == 200, path
    status, text = await get(server.url + "/metrics", Authorization=f"Bearer {TOKEN}")
    assert "livehuman_sessions_active 0.0" in text
    # A load balancer's checks carry no token.
    status, text = await get(server.url + "/readyz")
    assert status == 200 and json.loads(text)["ready"] is True
    status, text = await get(server.url + "/healthz")
    assert status == 200 and "media" not in json.loads(text)


@in_module_loop
async def test_the_openai_sdk_connects_to_v1_realtime_with_the_token_only(serve):
    from openai import AsyncOpenAI

    server = await serve("127.0.0.1", Access(token=TOKEN))
    base = f"ws://127.0.0.1:{server.port}/v1"
    async with AsyncOpenAI(api_key=TOKEN, websocket_base_url=base).realtime.connect(model="livehuman") as connection:
        event = await asyncio.wait_for(connection.recv(), 30)
        assert event.type == "session.created"
    for key in ("wrong-token", TOKEN + "x"):
        with pytest.raises(Exception, match="401"):
            async with AsyncOpenAI(api_key=key, websocket_base_url=base).realtime.connect(model="livehuman") as c:
                await c.recv()
    # Browsers cannot set headers on a WebSocket: they send the token as a subprotocol.
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{server.url}/v1/realtime",
                                   protocols=("realtime", f"openai-insecure-api-key.{TOKEN}")) as ws:
            event = json.loads((await ws.receive(timeout=30)).data)
            assert event["type"] == "session.created"
            assert ws.protocol == "realtime"  # a browser drops a handshake that accepts none of its offers
        for protocols in ((), ("realtime", "openai-insecure-api-key.wrong")):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{server.url}/v1/realtime", protocols=protocols)
            assert refused.value.status == 401


@in_module_loop
async def test_cors_lets_allowed_origins_in_and_keeps_others_out(serve):
    allowed = "http://app.example:3000"
    server = await serve("127.0.0.1", Access(token=TOKEN, cors_origins=(allowed,)))
    async with aiohttp.ClientSession() as http:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,authorization"}
        async with http.options(f"{server.url}/offer", headers={"Origin": allowed, **preflight}) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == allowed
            assert {"content-type", "authorization"} <= {
                h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
            assert "Origin" in r.headers["Vary"]
        async with http.options(f"{server.url}/offer", headers={"Origin": "http://other.example", **preflight}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
    # Every answer to the allowed origin carries the header, so its page can read errors too.
    for auth, expected in (({}, 401), ({"Authorization": f"Bearer {TOKEN}"}, 400)):
        status, _, headers = await post_offer(server.url, Origin=allowed, **auth)
        assert status == expected and headers["Access-Control-Allow-Origin"] == allowed
    status, _, headers = await post_offer(server.url, Origin="http://other.example", Authorization=f"Bearer {TOKEN}")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    # The server's own page needs no CORS header.
    _, _, headers = await post_offer(server.url, Origin=f"http://127.0.0.1:{server.port}",
                                     Authorization=f"Bearer {TOKEN}")
    assert "Access-Control-Allow-Origin" not in headers

    everyone = await serve("127.0.0.1", Access(token=TOKEN, cors_origins=("*",)))
    status, _, headers = await post_offer(everyone.url, Origin="https://anywhere.example")
    assert status == 401 and headers["Access-Control-Allow-Origin"] == "https://anywhere.example"


# -- browsers --------------------------------------------------------------------------------------

SECOND_ORIGIN_PAGE = """<!doctype html><meta charset="utf-8"><title>embedding</title>
<script>
// What a site embedding the avatar does: its own page, the livehuman server elsewhere.
async function connect(server, token) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.createDataChannel("events");
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
  });
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(server + "/offer", { method: "POST", headers,
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }) });
  } catch (err) {
    pc.close();
    return { fetchError: String(err) };
  }
  const answer = await response.json();
  if (!response.ok) { pc.close(); return { status: response.status, error: answer.error }; }
  await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track));
  document.body.append(video);
  await video.play();
  await new Promise((resolve) => { const wait = () => video.videoWidth > 0 ? resolve() : setTimeout(wait, 50); wait(); });
  window.pc = pc;
  return { status: response.status, session: answer.session, connection: pc.connectionState, width: video.videoWidth };
}
</script>"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(netns):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


async def second_origin(host: str) -> tuple[web.AppRunner, str]:
    """A tiny site on another port of the same host: another origin."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=SECOND_ORIGIN_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return await listen(app, host)


@in_module_loop
@needs_chromium
async def test_a_page_on_another_origin_connects_when_allowed_and_is_refused_otherwise(serve, netns, chromium):
    host = netns.addresses[0]
    site, origin = await second_origin(host)
    allowing = await serve(host, Access(token=TOKEN, cors_origins=(origin,)))
    closed = await serve(host, Access(token=TOKEN))
    browser = await chromium.chromium.launch(executable_path=CHROMIUM, args=QUIET)
    try:
        page = await browser.new_page()
        await page.goto(origin + "/")
        result = await page.evaluate("([server, token]) => connect(server, token)", [allowing.url, TOKEN])
        assert result["status"] == 200 and result["width"] == 512, result
        assert result["session"] in allowing.sessions
        # Allowed, but without the token: the page reads the 401 and its message.
        result = await page.evaluate("([server]) => connect(server, null)", [allowing.url])
        assert result["status"] == 401 and "access token" in result["error"], result
        # The server that does not allow this origin: the browser's preflight is refused, nothing is started.
        result = await page.evaluate("([server, token]) => connect(server, token)", [closed.url, TOKEN])
        assert "fetchError" in result, result
        assert not closed.sessions
        # Nor can the page open the other server's /v1/realtime, token or not.
        opened = await page.evaluate("""([url, token]) => new Promise((resolve) => {
            const ws = new WebSocket(url, ["realtime", "openai-insecure-api-key." + token]);
            ws.onopen = () => resolve(true); ws.onerror = () => resolve(false); })""",
                                     [closed.url.replace("http", "ws") + "/v1/realtime", TOKEN])
        assert opened is False
        # The allowed page opens /v1/realtime with the token as a subprotocol (browsers cannot set headers).
        event = await page.evaluate("""([url, token]) => new Promise((resolve) => {
            const ws = new WebSocket(url, ["realtime", "openai-insecure-api-key." + token]);
            ws.onmessage = (e) => { resolve({type: JSON.parse(e.data).type, protocol: ws.protocol}); ws.close(); };
            ws.onerror = () => resolve(null); })""", [allowing.url.replace("http", "ws") + "/v1/realtime", TOKEN])
        assert event == {"type": "session.created", "protocol": "realtime"}, event
        await page.evaluate("() => window.pc.close()")
        await wait_sessions(allowing, 0)
    finally:
        await browser.close()
        await site.cleanup()


@in_module_loop
@needs_chromium
async def test_the_page_asks_for_the_token_once_and_says_when_it_is_refused(serve, netns, chromium):
    server = await serve(netns.addresses[0], Access(token=TOKEN))
    browser = await chromium.chromium.launch(executable_path=CHROMIUM, args=QUIET + [
        f"--unsafely-treat-insecure-origin-as-secure={server.url}",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
    try:
        page = await browser.new_page(viewport={"width": 1200, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.url)
        # The form replaces the Start button until a token is given.
        await page.locator("#access").wait_for(state="visible")
        assert await page.locator("#start").is_hidden()
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "page-token.png"))
        # A wrong token: refused, said so, asked again, nothing started on the server.
        await page.fill("#token", "wrong-token")
        await page.press("#token", "Enter")
        await page.wait_for_function("() => window.livehuman.state === 'failed'", timeout=20000)
        assert "refused the access token" in (await page.locator("#message").inner_text())
        await page.locator("#access").wait_for(state="visible")
        assert "refused" in (await page.locator("#access-label").inner_text())
        assert await page.evaluate("() => sessionStorage.getItem('livehuman.token')") is None
        await page.screenshot(path=str(OUTPUT / "page-token-refused.png"))
        assert not server.sessions
        # The right one: the conversation starts, and the token is kept for this tab.
        await page.fill("#token", TOKEN)
        await page.click("#access button[type=submit]")
        await page.wait_for_function(
            "() => { const v = document.getElementById('avatar'); return window.livehuman.state === 'listening'"
            " && v.videoWidth === 512 && v.currentTime > 0.3; }", timeout=30000)
        assert await page.locator("#message").is_hidden()
        assert await page.evaluate("() => sessionStorage.getItem('livehuman.token')") == TOKEN
        await page.click("#hangup")
        await wait_sessions(server, 0)
        # Reloaded, the page does not ask again: Start connects with the kept token.
        await page.reload()
        assert await page.locator("#access").is_hidden()
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.state === 'listening'", timeout=30000)
        await page.click("#hangup")
        await wait_sessions(server, 0)
        assert not errors, errors
    finally:
        await browser.close()
