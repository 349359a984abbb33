"""A cluster's parts without Ray: where a session is placed, what travels to a node, and a node's
host answering a real offer (the whole cluster, with Ray and two machines: test_cluster.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import livehuman
from livehuman.avatar.upload import UploadLimits
from livehuman.cluster.placement import NodeLoad, choose_node

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "personas"


def load(node: str, sessions: int, *, max_sessions: int = 2, ready: bool = True, cpu: float = 0.5,
         dropped: int = 0) -> NodeLoad:
    return NodeLoad(node, f"10.0.0.{len(node)}", [f"{node}-{i}" for i in range(sessions)], max_sessions,
                    ready=ready, cpu=cpu, dropped=dropped)


def test_a_new_session_goes_to_the_node_with_the_smallest_share_taken():
    loads = [load("a", 1, max_sessions=2), load("b", 1, max_sessions=4), load("c", 2, max_sessions=2)]
    assert choose_node(loads).node_id == "b"  # a quarter taken, against a half and all


def test_offers_being_answered_count_as_taken():
    loads = [load("a", 0), load("b", 0)]
    assert choose_node(loads, {"a": 1}).node_id == "b"
    assert choose_node(loads, {"a": 2, "b": 2}) is None  # both full once those are answered


def test_at_equal_shares_a_node_dropping_frames_then_a_busier_cpu_comes_last():
    assert choose_node([load("a", 1, dropped=3, cpu=0.1), load("b", 1, cpu=0.9)]).node_id == "b"
    assert choose_node([load("a", 1, cpu=0.8), load("b", 1, cpu=0.3)]).node_id == "b"


def test_a_node_still_warming_up_or_full_takes_nothing():
    assert choose_node([load("a", 0, ready=False), load("b", 2)]) is None
    assert choose_node([]) is None


@pytest.fixture(scope="module")
def front_setups(tmp_path_factory):
    """What a front door serving the example personas and one with a knowledge file of its own holds."""
    from livehuman.live.server import build_live_server

    folder = tmp_path_factory.mktemp("personas")
    (folder / "faq.yaml").write_bytes((Path(livehuman.__file__).parent / "data" / "knowledge.yaml").read_bytes())
    (folder / "zoe.toml").write_text('name = "Zoe"\nknowledge = "faq.yaml"\n', encoding="utf-8")
    server = build_live_server(persona=[str(EXAMPLES), str(folder / "zoe.toml")], max_sessions=2, render_workers=0,
                               uploads=None)
    yield server
    server.close_resources()


def test_a_recipe_carries_the_personas_and_their_prepared_avatars_to_a_node(front_setups, tmp_path):
    from livehuman.cluster.bundle import node_recipe

    setups = front_setups.config.personas
    recipe = node_recipe(setups, {"max_sessions": 3, "render_workers": 0, "greet": False,
                                  "persona": [str(EXAMPLES)], "access": object()})
    assert "access" not in recipe.options and recipe.options["max_sessions"] == 3
    options = recipe.unpack(tmp_path)
    assert [p.key for p in options["persona"]] == list(setups)
    assert any(p.knowledge for p in options["persona"])
    for persona, setup in zip(options["persona"], setups.values()):
        folder = Path(persona.avatar)
        assert folder.parent == tmp_path / "avatars"  # the node's own copy, not the front door's
        assert (folder / "meta.json").read_bytes() == (Path(setup.face.avatar.directory) / "meta.json").read_bytes()
        if setup.persona.knowledge is not None:
            assert Path(persona.knowledge).read_bytes() == Path(setup.persona.knowledge).read_bytes()
            assert Path(persona.knowledge).parent == tmp_path


@pytest.mark.netns
async def test_a_node_host_answers_an_offer_from_its_copy_and_reports_the_session(front_setups, netns, tmp_path):
    from aiortc import RTCPeerConnection

    from livehuman.cluster.bundle import node_recipe
    from livehuman.cluster.node import NodeHost
    from livehuman.live.server import Offer

    recipe = node_recipe(front_setups.config.personas, {"max_sessions": 1, "render_workers": 0, "greet": False},
                         uploads=UploadLimits(max_kept=2))
    host = NodeHost(recipe, "node-1", netns.addresses[0])
    pc = RTCPeerConnection()
    try:
        first = await host.report()
        assert first.max_sessions == 1 and first.sessions == []
        while not (await host.report()).ready:  # the first report started the warm-up
            await asyncio.sleep(0.2)
        pc.createDataChannel("events")
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        persona = list(front_setups.config.personas)[1]
        status, body = await host.answer(Offer(pc.localDescription.sdp, persona=persona))
        assert status == 200, body
        assert body["node"] == netns.addresses[0] and body["persona"] == persona
        assert (await host.report()).sessions == [body["session"]]
        await _drive_through_a_front_door(await host.report(), body["session"], netns.addresses[0])
        status, busy = await host.answer(Offer(pc.localDescription.sdp))  # its one place is taken
        assert status == 503 and "busy" in busy["error"]
        status, bad = await host.answer(Offer(pc.localDescription.sdp, persona="nobody"))
        assert status == 400 and "unknown persona" in bad["error"]
        assert await host.end_sessions("test") == 1
        for _ in range(50):
            if not (await host.report()).sessions:
                break
            await asyncio.sleep(0.1)
        assert (await host.report()).sessions == []
        await _an_uploaded_face_comes_with_its_first_offer(host, pc, front_setups, tmp_path)
    finally:
        await pc.close()
        await host.close()
    assert not host._folder.exists()


async def _an_uploaded_face_comes_with_its_first_offer(host, pc, front_setups, tmp_path) -> None:
    """An avatar uploaded to the front door and prepared there reaches the node packed with the
    first offer that names it; the node keeps it (and reports it) for the next ones."""
    import shutil

    from livehuman.cluster.bundle import pack_folders
    from livehuman.live.server import Offer

    name = "upload-0123456789ab"
    prepared = tmp_path / name  # what the front door's preparation left (a persona's prepared face)
    shutil.copytree(next(iter(front_setups.config.personas.values())).face.avatar.directory, prepared)
    offer = Offer(pc.localDescription.sdp, avatar=name)
    status, missing = await host.answer(offer)  # not sent along, and the node has never seen it
    assert status == 400 and "upload it again" in missing["error"]
    status, body = await host.answer(offer, pack_folders({name: prepared}))
    assert status == 200, body
    assert name in (await host.report()).uploads
    assert (host._folder / "uploads" / name / "meta.json").read_bytes() == (prepared / "meta.json").read_bytes()
    await host.end_sessions("test")
    while (await host.report()).sessions:
        await asyncio.sleep(0.1)
    status, body = await host.answer(offer)  # kept: the next offer needs no copy
    assert status == 200, body


async def _drive_through_a_front_door(load, session_id: str, address: str) -> None:
    """The node's drive API answers only with the token it reported; a front door's proxy passes a
    backend's requests on to it, answers, refusals, the event stream and the WebSocket alike."""
    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from livehuman.cluster.drive import DriveProxy

    assert load.drive_url.startswith(f"http://{address}:") and load.drive_token
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{load.drive_url}/sessions/{session_id}") as response:
            assert response.status == 401  # nobody but the front door
    proxy = DriveProxy(lambda sid: load if sid == session_id else None, lambda: [load], listed=True)
    app = web.Application()
    proxy.routes(app)
    app.on_cleanup.append(lambda app: proxy.close())
    async with TestClient(TestServer(app)) as front:
        listed = await (await front.get("/sessions")).json()
        assert [s["id"] for s in listed["sessions"]] == [session_id]
        shown = await front.get(f"/sessions/{session_id}")
        assert shown.status == 200 and (await shown.json())["id"] == session_id
        events = await front.get(f"/sessions/{session_id}/events")
        assert events.headers["Content-Type"] == "text/event-stream"
        assert await events.content.readline() == b"event: session\n"
        said = await front.post(f"/sessions/{session_id}/say", json={"text": "Hello from the backend."})
        assert said.status == 202, await said.text()
        seen = []  # the say shows in the event stream, as it comes
        while "transcript" not in seen:
            line = await asyncio.wait_for(events.content.readline(), 30)
            if line.startswith(b"event: "):
                seen.append(line[7:].strip().decode())
        events.close()
        refused = await front.post(f"/sessions/{session_id}/say", data=b"hello")  # the node's own refusal
        assert refused.status == 415 and "JSON" in (await refused.json())["error"]
        unknown = await front.post("/sessions/nobody/say", json={"text": "Hi"})
        assert unknown.status == 404 and "nobody" in (await unknown.json())["error"]
        ws = await front.ws_connect(f"/sessions/{session_id}/ws")
        assert (await ws.receive_json(timeout=10))["type"] == "session"
        await ws.send_json({"type": "shout"})
        while (message := await ws.receive_json(timeout=10))["type"] != "error":
            pass
        assert "shout" in message["message"]
        await ws.close()
