"""STUN and TURN for visitors behind NAT (live/ice.py): serve's flags, GET /ice-servers, and both peers using them.

The NAT and its STUN server are out of reach here, so a STUN server of the test's own answers
binding requests in the namespace (aioice's STUN messages, the real protocol) as one behind a NAT
would: with a public address (203.0.113.7, a documentation address) instead of the one it saw.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aioice import stun

from helpers_live import free_port, start_live_server
from livehuman.errors import LivehumanError
from livehuman.live.access import Access
from livehuman.live.client import LiveClient
from livehuman.live.ice import CREDENTIAL_TTL_S, IceSettings, ice_settings

PUBLIC = "203.0.113.7"  # the address the pretend NAT maps the server to
TOKEN = "ice-test-token"


@pytest.mark.parametrize("flags, error", [
    ((["http://stun.example.org"],), "'http://stun.example.org' is not a STUN or TURN address"),
    ((["stun:"],), "is not a STUN or TURN address"),
    ((["turn:relay.example.org:3478"],), "a TURN server needs credentials"),
    ((["turn:relay.example.org"], "ann", None), "--turn-user and --turn-password go together"),
    ((["turn:relay.example.org"], "ann", "pw", "s3cret"), "either --turn-secret or --turn-user"),
    ((["stun:stun.example.org"], None, None, "s3cret"), "without a TURN server"),
    ((["turn:relay.example.org"], None, None, ""), "--turn-secret is empty"),
])
def test_bad_ice_flags_get_one_line_naming_the_flag(flags, error):
    with pytest.raises(LivehumanError, match=error):
        ice_settings(*flags)


def test_the_browsers_list_holds_stun_and_turn_with_their_credentials():
    ice = ice_settings(["stun:stun.example.org:3478", "turn:relay.example.org:3478?transport=tcp",
                        "turns:[2001:db8::1]:5349"], "ann", "pw")
    assert ice.browser() == [{"urls": ["stun:stun.example.org:3478"]},
                             {"urls": ["turn:relay.example.org:3478?transport=tcp", "turns:[2001:db8::1]:5349"],
                              "username": "ann", "credential": "pw"}]
    servers = ice.aiortc()
    assert [s.urls for s in servers] == [u["urls"] for u in ice.browser()]
    assert servers[1].username == "ann" and servers[1].credential == "pw"
    assert IceSettings().browser() == [] and IceSettings().aiortc() == []


def test_a_shared_secret_gives_each_page_a_password_that_expires():
    ice = ice_settings(["turn:relay.example.org:3478"], secret="s3cret")
    (turn,) = ice.browser(now=1_800_000_000.7)
    expiry, name = turn["username"].split(":")
    assert int(expiry) == 1_800_000_000 + CREDENTIAL_TTL_S and name == "livehuman"
    # coturn's use-auth-secret check: the password is base64(HMAC-SHA1(secret, user name)).
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert ice.browser(now=1_800_000_100.0)[0]["credential"] != expected  # a later page, a later expiry


def test_serve_refuses_a_bad_ice_flag_before_loading_anything():
    livehuman = str(Path(sys.executable).parent / "livehuman")
    run = subprocess.run([livehuman, "serve", "--ice-server", "turn:relay.example.org:3478"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        "livehuman: error: a TURN server needs credentials: --turn-user and --turn-password, or --turn-secret "
        "(coturn's static-auth-secret)"]


class NattedStun(asyncio.DatagramProtocol):
    """A STUN server that answers binding requests with the public address a NAT would have given."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.asked.append(addr)
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = (PUBLIC, addr[1])
        response.add_fingerprint()
        self.transport.sendto(bytes(response), addr)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def natted(netns):
    """(the live server, the STUN server): a server with a token, told of the STUN server."""
    host = netns.addresses[0]
    stun_port = free_port(host)
    loop = asyncio.get_running_loop()
    transport, stun_server = await loop.create_datagram_endpoint(NattedStun, local_addr=(host, stun_port))
    ice = ice_settings([f"stun:{host}:{stun_port}"])
    live, runner = await start_live_server(host, max_sessions=2, ice=ice, access=Access(token=TOKEN))
    yield live, stun_server
    await runner.cleanup()
    transport.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_server_learns_its_public_address_and_the_page_gets_the_list(natted):
    live, stun_server = natted
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{live.url}/ice-servers") as response:
            assert response.status == 401  # guarded like /offer: it may hold TURN credentials
        async with http.get(f"{live.url}/ice-servers", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            assert await response.json() == {"iceServers": live.config.ice.browser()}
    client = LiveClient(live.url, token=TOKEN)
    await client.connect()  # the conversation still connects (host candidates, in the namespace)
    try:
        assert stun_server.asked  # the server's peer connection asked the STUN server
        srflx = [line for line in client.answer_sdp.splitlines() if "typ srflx" in line]
        assert srflx and all(f" {PUBLIC} " in line for line in srflx), srflx
        await client.wait_for(lambda: client.received.video_count > 5, 20)
    finally:
        await client.close()


CHROMIUM = "/usr/bin/chromium"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright(netns):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
async def test_the_page_uses_the_servers_ice_list(natted, playwright):
    live, stun_server = natted
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-background-networking", "--mute-audio", "--deny-permission-prompts"])
    try:
        page = await browser.new_page()
        asked = len(stun_server.asked)
        await page.goto(f"{live.url}/static/embed.html?microphone=false#token={TOKEN}")
        await page.click("#start")
        await page.wait_for_function("() => window.livehuman.session", timeout=40000)
        config = await page.evaluate("() => window.livehuman.human.pc.getConfiguration().iceServers")
        assert [server["urls"] for server in config] == [[live.config.ice.urls[0]]]
        assert len(stun_server.asked) >= asked + 2  # the page's binding request, and the server's
    finally:
        await browser.close()
