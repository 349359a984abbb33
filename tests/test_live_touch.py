"""Touch live, through the data channel: a real server (a persona with its own [touch] line) and a
real aiortc client in a network namespace. A touch on the nose makes the avatar say its line with
a fitting face; a touch while it speaks cuts the reply first; the drive API's watchers see it."""

from __future__ import annotations

import time

import aiohttp
import pytest
import pytest_asyncio

from helpers_live import free_port, listen
from livehuman.live.client import LiveClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOSE_LINE = "Beep! That is my nose."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns, tmp_path_factory):

    from livehuman.brain.persona import load_persona
    from livehuman.live.server import build_live_server

    path = tmp_path_factory.mktemp("persona") / "tess.toml"
    # No greeting: the tests start from a listening avatar.
    path.write_text(f'name = "Tess"\ngreeting = ""\n[touch]\nnose = "{NOSE_LINE}"\n', encoding="utf-8")
    live = build_live_server(persona=[load_persona(path)], max_sessions=2, render_workers=0)
    runner, live.url = await listen(live.app(), netns.addresses[0])
    yield live
    await runner.cleanup()


def nose_of(server, client: LiveClient) -> dict:
    """Where the session's avatar has its nose tip, in 0..1 of the video frame."""
    avatar = server.sessions[client.session].renderer.avatar
    x, y = avatar.landmarks[0][1]
    width, height = avatar.size
    return {"x": float(x) / width, "y": float(y) / height}


async def test_a_touch_on_the_nose_while_listening_gets_a_face_and_the_personas_line(server):
    client = LiveClient(server.url)
    await client.connect()
    try:
        await client.wait_for(lambda: client.events("persona"), 20)
        touched = time.monotonic()
        client.send({"type": "touch", **nose_of(server, client)})
        echo = await client.wait_for(lambda: client.event("touch", since=touched), 10)
        assert echo["zone"] == "nose" and echo["expression"] == "surprise"
        said = await client.wait_for(
            lambda: client.event("transcript", since=touched, role="assistant", final=True), 40)
        assert said["text"] == NOSE_LINE
        shown = client.event("emotion", since=touched, role="assistant")
        assert shown is not None and shown["label"] == "surprise" and shown["strength"] == echo["strength"]
        await client.wait_for(lambda: client.first_voiced_after(touched), 20)  # spoken, not only written
        assert server.sessions[client.session].renderer.shown == ("surprise", echo["strength"])
        assert client.event("metrics", since=touched, barge_in="touch") is None  # nothing was cut
        # Off the face (the uniform's corner): nothing happens, and nothing is said about it.
        client.send({"type": "touch", "x": 0.02, "y": 0.98})
        client.send({"type": "touch", "x": 2, "y": 0.5})
        error = await client.wait_for(lambda: client.event("error", since=touched), 10)
        assert error["message"].startswith('a touch message needs "x" and "y" from 0 to 1')
        assert len(client.events("touch", since=touched)) == 1
    finally:
        await client.close()


async def test_a_touch_while_speaking_cuts_the_reply_and_the_line_follows(server):
    client = LiveClient(server.url)
    await client.connect()
    try:
        await client.wait_for(lambda: client.events("persona"), 20)
        asked = time.monotonic()
        client.send({"type": "text", "text": "What is livehuman? Tell me everything about it."})
        await client.wait_for(lambda: client.event("state", since=asked, state="speaking"), 40)
        await client.wait_for(lambda: client.first_voiced_after(asked), 20)
        session = server.sessions[client.session]
        session.touches.clock = lambda: 0.0  # from now on every touch is "too soon" after the first
        touched = time.monotonic()
        for _ in range(3):  # rapid clicks: one reaction
            client.send({"type": "touch", **nose_of(server, client)})
        cut = await client.wait_for(lambda: client.event("metrics", since=touched, barge_in="touch"), 10)
        assert cut["heard_ms"] > 0
        cut_line = f"Oh! {NOSE_LINE}"
        said = await client.wait_for(
            lambda: client.event("transcript", since=touched, role="assistant", final=True, text=cut_line), 40)
        assert said is not None
        assert len(client.events("touch", since=touched)) == 1
        assert len([e for e in client.events("metrics", since=touched) if e.get("barge_in")]) == 1
        # The drive API's event stream is told of touches too, and takes them as the page does.
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{server.url}/sessions/{client.session}/ws") as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "session"
                session.touches.clock = lambda: 100.0  # long after the last touch
                await ws.send_json({"type": "touch", **nose_of(server, client)})
                seen = []
                while not any(m.get("type") == "touch" for m in seen):
                    seen.append(await ws.receive_json(timeout=20))
                assert seen[-1]["zone"] == "nose"
            # And over plain HTTP, for a backend without a socket.
            session.touches.clock = lambda: 200.0
            url = f"{server.url}/sessions/{client.session}/touch"
            async with http.post(url, json=nose_of(server, client)) as response:
                assert response.status == 200 and (await response.json())["zone"] == "nose"
            async with http.post(url, json={"x": 0.02, "y": 0.98}) as response:  # off the face
                assert response.status == 200 and (await response.json())["zone"] is None
            async with http.post(url, json={"x": 2, "y": 0.5}) as response:
                assert response.status == 400
                assert (await response.json())["error"].startswith('a touch request needs "x" and "y" from 0 to 1')
    finally:
        await client.close()


async def test_a_remote_brain_is_asked_to_react_to_the_touch(netns, tmp_path):
    """A persona whose brain is a Realtime server (the server's own /v1/realtime): it cannot say a
    line verbatim, so it is asked to react with a system message, as it is asked to greet."""

    from livehuman.brain.persona import load_persona
    from livehuman.live.server import build_live_server

    host = netns.addresses[0]
    port = free_port(host)
    path = tmp_path / "rea.toml"
    path.write_text(f'name = "Rea"\ngreeting = ""\n[touch]\nnose = "{NOSE_LINE}"\n'
                    f'[brain]\nkind = "realtime"\nurl = "ws://{host}:{port}/v1"\nmodel = "livehuman"\n')
    live = build_live_server(persona=[load_persona(path)], max_sessions=2, render_workers=0)
    runner, _ = await listen(live.app(), host, port)
    client = LiveClient(f"http://{host}:{port}")
    try:
        await client.connect()
        await client.wait_for(lambda: client.events("persona"), 20)
        touched = time.monotonic()
        client.send({"type": "touch", **nose_of(live, client)})
        echo = await client.wait_for(lambda: client.event("touch", since=touched), 10)
        assert echo["zone"] == "nose"
        await client.wait_for(lambda: client.event("transcript", since=touched, role="assistant", final=True), 40)
        remote = live.sessions[client.session].brain.primary  # the Realtime client inside the session
        notes = [part.get("text", "") for item in remote.history() if item.get("role") == "system"
                 for part in item.get("content", [])]
        assert f'(The user just touched your nose on the screen. React in one short, playful sentence, ' \
               f'for example: "{NOSE_LINE}")' in notes, notes
    finally:
        await client.close()
        await runner.cleanup()
