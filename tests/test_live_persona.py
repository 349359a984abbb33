"""Personas live, through the data channel: the server built as `serve --persona examples/personas/`
builds it, a real aiortc client; the greeting opens each session, spoken, under the persona's name;
the user's emotion is read and answered with empathy and a fitting face."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from helpers_live import free_port, listen, speech48
from livehuman.live.client import LiveClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "personas"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):

    from livehuman.brain.persona import load_personas
    from livehuman.live.server import build_live_server

    personas = load_personas([EXAMPLES])
    live = build_live_server(persona=personas, max_sessions=2, render_workers=0)
    live.config.inactivity_timeout = 8.0
    runner, live.url = await listen(live.app(), netns.addresses[0])  # warms both personas' brains up
    live.personas = {p.key: p for p in personas}
    yield live
    await runner.cleanup()


async def greeted(client: LiveClient, started: float) -> dict:
    """Wait for the greeting's whole transcript, voiced, and for the avatar to listen again."""
    said = await client.wait_for(lambda: client.event("transcript", role="assistant", final=True), 40)
    await client.wait_for(lambda: client.first_voiced_after(started), 20)
    await client.wait_for(lambda: [e for e in client.events("state") if e["state"] == "speaking"], 20)
    speaking = max(t for t, e in client.received.events if e.get("type") == "state" and e["state"] == "speaking")
    await client.wait_for(lambda: client.event("state", since=speaking, state="listening"), 40)
    return said


async def test_the_server_lists_its_personas_the_default_first(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/personas") as response:
            listed = (await response.json())["personas"]
    assert [(p["key"], p["name"]) for p in listed] == [("ava", "Ava"), ("max", "Max")]
    assert listed[1]["greeting"] == server.personas["max"].greeting


async def test_the_greeting_opens_the_session_spoken_under_the_personas_name(server):
    client = LiveClient(server.url)
    started = time.monotonic()
    await client.connect()
    try:
        said = await greeted(client, started)
        assert client.event("persona")["name"] == "Ava"
        assert said["text"] == server.personas["ava"].greeting
        # With a smile: the frames drawn for it ease to joy at 0.8 × Ava's expressiveness.
        from livehuman.emotion.reply import greeting_expression

        assert server.sessions[client.session].renderer.shown == greeting_expression(0.7) == ("joy", 0.56)
        # Spoken: seconds of voiced audio, not a line of text only.
        assert client.voiced_seconds(started) > 2.0
        # Nothing was asked: the greeting is the only reply, said once.
        assert len(client.events("transcript")) >= 1
        assert [e["text"] for e in client.events("transcript") if e["final"]] == [said["text"]]
    finally:
        await client.close()


async def test_another_persona_greets_in_its_own_words_and_a_wrong_one_is_refused(server):
    client = LiveClient(server.url, persona="max")
    started = time.monotonic()
    await client.connect()
    try:
        said = await greeted(client, started)
        assert client.event("persona")["name"] == "Max"
        assert said["text"] == server.personas["max"].greeting
    finally:
        await client.close()
    wrong = LiveClient(server.url, persona="nobody")
    with pytest.raises(ConnectionError, match="400: unknown persona 'nobody': choose one of ava, max"):
        await wrong.connect()
    await wrong.close()


async def test_a_backend_or_the_page_asks_for_another_persona(server):
    client = LiveClient(server.url)  # Ava, the default
    await client.connect()
    try:
        url = f"{server.url}/sessions/{client.session}/persona"
        async with aiohttp.ClientSession() as http:
            for body, status, error in (({"persona": "nobody"}, 400, "unknown persona 'nobody': choose one of ava, max"),
                                        ({"name": "max"}, 400, "a persona request needs \"persona\""),
                                        ([], 400, "the body must be a JSON object")):
                async with http.post(url, json=body) as response:
                    assert response.status == status and error in (await response.json())["error"], body
            async with http.post(url, json={"persona": "ava"}) as response:  # already hers: nothing to do
                assert response.status == 202 and (await response.json())["switched"] is False
            async with http.post(f"{server.url}/sessions/nope/persona", json={"persona": "max"}) as response:
                assert response.status == 404
            asked = time.monotonic()
            async with http.post(url, json={"persona": "max"}) as response:
                assert response.status == 202
                assert await response.json() == {"session": client.session, "persona": "max", "switched": True}
        # The page is told to reconnect with Max (livehuman.js does, or the page's own select).
        switch = await client.wait_for(lambda: client.event("switch", since=asked), 10)
        assert switch == {"type": "switch", "persona": "max"}
        # The page itself may ask over its data channel: the same checks, the same answer.
        asked = time.monotonic()
        client.send({"type": "persona", "persona": "nobody"})
        error = await client.wait_for(lambda: client.event("error", since=asked), 10)
        assert "choose one of ava, max" in error["message"]
        client.send({"type": "persona", "persona": "max"})
        assert await client.wait_for(lambda: client.event("switch", since=asked), 10) == switch
    finally:
        await client.close()


async def test_a_sad_message_is_read_and_answered_with_empathy_and_concern(server):
    client = LiveClient(server.url)
    started = time.monotonic()
    await client.connect()
    try:
        await greeted(client, started)
        asked = time.monotonic()
        client.send({"type": "text", "text": "I feel so sad today, my dog died."})
        user = await client.wait_for(lambda: client.event("emotion", since=asked, role="user"), 10)
        assert user["label"] == "sadness" and user["valence"] < -0.3
        reply = await client.wait_for(lambda: client.event("transcript", since=asked, role="assistant", final=True), 30)
        assert reply["text"].startswith("I'm so sorry you're feeling this way.")
        shown = await client.wait_for(lambda: client.event("emotion", since=asked, role="assistant"), 10)
        assert shown["label"] == "concern" and 0.2 < shown["strength"] <= 0.7  # Ava's expressiveness is 0.7
        renderer = server.sessions[client.session].renderer
        await client.wait_for(lambda: client.event("state", since=asked, state="speaking"), 20)
        assert renderer.shown == ("concern", shown["strength"])  # the face draws what the page is told
    finally:
        await client.close()


async def test_a_spoken_question_has_its_emotion_read_from_words_and_voice(server, tmp_path):
    client = LiveClient(server.url)
    started = time.monotonic()
    await client.connect()
    try:
        await greeted(client, started)
        spoken = time.monotonic()
        client.say(speech48("I am really angry, this is useless.", tmp_path))
        heard = await client.wait_for(lambda: client.event("transcript", since=spoken, role="user", final=True), 30)
        user = await client.wait_for(lambda: client.event("emotion", since=spoken, role="user"), 10)
        print("heard", heard["text"], "emotion", user)
        # The recognizer may mishear a word; what it heard is what the emotion is read from.
        assert user.get("item") == heard.get("item")
        assert "arousal" in user  # the voice was read (against this user's own normal: the first turn says little)
        assert -1.0 <= user["arousal"] <= 1.0
    finally:
        await client.close()


async def test_a_remote_brain_is_asked_to_greet_and_told_how_the_user_feels(netns, tmp_path):
    """A persona whose brain is a Realtime server (here the server's own /v1/realtime, the offline
    brain behind the protocol): the greeting is asked for, the user's emotion goes in as a note."""

    from livehuman.brain.persona import load_persona
    from livehuman.live.server import build_live_server

    host = netns.addresses[0]
    port = free_port(host)
    path = tmp_path / "rea.toml"
    path.write_text(f'name = "Rea"\ngreeting = "Hello, I am Rea. Ask me about livehuman."\n'
                    f'[brain]\nkind = "realtime"\nurl = "ws://{host}:{port}/v1"\nmodel = "livehuman"\n')
    rea = load_persona(path)
    live = build_live_server(persona=[rea], max_sessions=2, render_workers=0)
    runner, _ = await listen(live.app(), host, port)
    client = LiveClient(f"http://{host}:{port}")
    try:
        started = time.monotonic()
        await client.connect()
        said = await greeted(client, started)
        assert said["text"] == rea.greeting and client.event("persona")["name"] == "Rea"
        remote = live.sessions[client.session].brain.primary  # the Realtime client inside the session
        asked = time.monotonic()
        client.send({"type": "text", "text": "I am so angry, this is useless."})
        await client.wait_for(lambda: client.event("transcript", since=asked, role="assistant", final=True), 40)
        notes = [item for item in remote.history() if item.get("role") == "system"]
        texts = [part.get("text", "") for item in notes for part in item.get("content", [])]
        assert any(t.startswith("Open the conversation now by greeting the user") for t in texts), texts
        assert "(The user sounds angry: answer with fitting empathy.)" in texts, texts
        user = client.event("emotion", since=asked, role="user")
        assert user["label"] == "anger"
    finally:
        await client.close()
        await runner.cleanup()
