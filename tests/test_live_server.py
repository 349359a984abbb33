"""`livehuman serve` end to end: a real aiortc client against the real server, inside a namespace."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

from helpers_live import (candidate_addresses, check_voice_stopped, interrupt_answer, mic48, speech48, start_live_server,
                          wait_sessions)
from livehuman.live.client import LiveClient, rms
from livehuman.live.microphone import PromptAudioBuffer
from livehuman.live.video_encoder import RenderedVp8Encoder

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SESSIONS = 3
LONG_QUESTION = "What is livehuman?"  # its answer lasts about ten seconds
SHORT_QUESTION = "Is it free?"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(netns):
    live, runner = await start_live_server(netns.addresses[0], max_sessions=MAX_SESSIONS, inactivity_timeout=6.0)
    yield live
    await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module")
async def client(server):
    c = LiveClient(server.url)
    await c.connect()
    yield c
    await c.close()


@pytest.fixture(scope="module")
def question48(tmp_path_factory):
    return speech48(LONG_QUESTION, tmp_path_factory.mktemp("speech"))


async def test_spoken_question_gets_a_voiced_answer_with_moving_lips(server, netns, question48):
    from livehuman.avatar.landmarks import FaceMeshDetector, lip_gap

    c = LiveClient(server.url, record_video=True)
    await c.connect()
    try:
        # ICE only ever saw the namespace's own addresses.
        addresses = candidate_addresses(c.answer_sdp) + candidate_addresses(c.pc.localDescription.sdp)
        assert addresses and all(netns.owns(a) for a in addresses), addresses
        # The microphone reaches the brain without aiortc's playout buffering.
        receivers = [t.receiver for t in server._peers[c.session].getTransceivers() if t.kind == "audio"]
        assert receivers and all(isinstance(r._RTCRtpReceiver__jitter_buffer, PromptAudioBuffer) for r in receivers)
        # The face is encoded as drawn frames (VP8, which every browser offers first).
        assert isinstance(video_sender(server, c)._RTCRtpSender__encoder, RenderedVp8Encoder)
        await c.wait_for(lambda: c.received.video_count >= 20, 20)  # some listening (idle) frames first
        spoken = time.monotonic()
        # Not awaited: espeak-ng's trailing silence is long enough that the answer may start
        # before the question's last packet is sent.
        c.say(question48)
        heard = await c.wait_for(lambda: c.event("transcript", role="user", final=True), 30)
        assert heard["text"].strip()
        await c.wait_for(lambda: c.event("state", since=spoken, state="speaking"), 30)
        first = await c.wait_for(lambda: c.first_voiced_after(spoken), 30)
        # Forty frames of the ten-second answer: 1.6 s of it in real time, longer on a starved machine.
        await c.wait_for(lambda: sum(t >= first for t in c.received.video_times) >= 40, 20)
        reply = c.event("transcript", role="assistant")
        assert reply and reply["text"].strip()
        metrics = await c.wait_for(lambda: c.event("metrics", since=spoken, source="speech"), 10)
        assert metrics["asr_final_ms"] is not None and metrics["first_frame_ms"] is not None
        assert metrics["first_audio_ms"] <= metrics["first_frame_ms"]
    finally:
        await c.close()

    audio = c.received.audio
    times = np.array([t for t, _ in audio])
    loud = np.array([rms(s) for _, s in audio])

    def voiced_near(t: float) -> float:
        window = (times > t - 0.06) & (times < t + 0.06)
        return float(loud[window].max()) if window.any() else 0.0

    idle = [(t, f) for t, f in c.received.video if t < spoken]
    answer = [(t, f) for t, f in c.received.video if first <= t]
    assert len(idle) >= 10 and len(answer) >= 40
    with FaceMeshDetector(video=False) as detector:
        def gaps(frames):
            out = []
            for t, frame in frames:
                face = detector.detect(frame.to_ndarray(format="bgr24"))
                assert face is not None, "no face in a received frame"
                out.append((t, lip_gap(face.points)))
            return out

        idle_gaps = [g for _, g in gaps(idle[::2][:10])]
        answer_gaps = gaps(answer[::2])
    # For people to look at: the listening face, and the widest-open mouth of the answer.
    import cv2

    output = Path(__file__).resolve().parent.parent / "test-output"
    output.mkdir(exist_ok=True)
    widest = max(range(len(answer_gaps)), key=lambda i: answer_gaps[i][1])
    cv2.imwrite(str(output / "live-listening.png"), idle[0][1].to_ndarray(format="bgr24"))
    cv2.imwrite(str(output / "live-speaking.png"), answer[::2][widest][1].to_ndarray(format="bgr24"))
    voiced_gaps = [g for t, g in answer_gaps if voiced_near(t) > 1500]
    assert len(voiced_gaps) >= 10
    # Listening: the mouth stays closed; answering: it opens while the voice is loud.
    assert max(idle_gaps) < 0.08, idle_gaps
    assert np.median(voiced_gaps) > max(idle_gaps) + 0.03, (np.median(voiced_gaps), idle_gaps)
    assert np.std([g for _, g in answer_gaps]) > 0.02  # it moves, not just opens


async def test_a_thinking_pause_gets_a_nod_and_the_whole_question_one_answer(server, client):
    """A person (festival's diphone voice) stops to think after "I want to know if": the brain holds
    the turn (brain/turn_end.py) and the face nods in the pause (motion/listening.py); the question is
    heard whole, as one turn."""
    from helpers_listen import said_paused, silence
    from livehuman.speech.audio import Audio
    from livehuman.speech.festival import festival_speech

    session = server.sessions[client.session]
    first, second = said_paused(lambda text: festival_speech(text, "ked"), "I want to know if", "it runs offline.")
    audio = np.concatenate([silence(0.3), first, silence(1.0), second, silence(0.3)])
    spoken = time.monotonic()
    await client.say(mic48(Audio(audio, 16000)))
    heard = await client.wait_for(lambda: client.event("transcript", since=spoken, role="user", final=True), 30)
    assert session.renderer.nods == 1
    await client.wait_for(lambda: client.event("state", since=spoken, state="speaking"), 30)
    finals = [e for e in client.events("transcript", since=spoken) if e.get("role") == "user" and e.get("final")]
    assert finals == [heard] and len(heard["text"].split()) > 4, finals  # one turn, both halves


async def test_going_on_over_an_answer_begun_in_the_pause_gets_the_whole_question_answered(server, client):
    """A synthesizer's voice gets the fixed silence, which ends the turn in a thinking pause: the
    avatar begins to answer "I would like to know", the user goes on, and the avatar stops and
    answers both halves as one question (brain/local.py, going on)."""
    from helpers_listen import espeak_paused, silence
    from livehuman.speech.audio import Audio

    brain = server.sessions[client.session].brain
    first, second = espeak_paused("I would like to know", "how much it costs.")
    spoken = time.monotonic()
    await client.say(mic48(Audio(np.concatenate([silence(0.3), first, silence(1.0)]), 16000)))
    await client.wait_for(lambda: client.event("state", since=spoken, state="speaking"), 10)  # it took the pause for the end
    await client.say(mic48(Audio(np.concatenate([second, silence(0.5)]), 16000)))
    finals = await client.wait_for(
        lambda: [e for e in client.events("transcript", since=spoken) if e.get("role") == "user" and e.get("final")][1:]
        and client.events("transcript", since=spoken), 30)
    await client.wait_for(lambda: client.event("state", since=spoken, state="speaking")
                          and brain.dialogue.history[-1]["role"] == "assistant" and brain.went_on, 30)
    halves = [e["text"] for e in finals if e.get("role") == "user" and e.get("final")]
    asked = [m["content"] for m in brain.dialogue.history if m["role"] == "user"]
    assert asked[-1] == " ".join(halves) and all(h.strip() for h in halves)  # the last answer answers both
    assert halves[0] not in asked[:-1]  # and the answer begun to the first half is not in the history


async def test_text_message_gets_transcripts_states_and_metrics(client):
    t = time.monotonic()
    client.send({"type": "text", "text": SHORT_QUESTION})
    await client.wait_for(lambda: client.event("transcript", since=t, role="assistant", final=True), 30)
    await client.wait_for(lambda: client.event("state", since=t, state="speaking"), 30)
    await client.wait_for(lambda: client.event("state", since=t, state="listening"), 40)
    user = client.event("transcript", since=t, role="user", final=True)
    assert user["text"] == SHORT_QUESTION
    answer = client.event("transcript", since=t, role="assistant", final=True)
    assert "free" in answer["text"].lower()
    states = [e["state"] for e in client.events("state", since=t)]
    assert states[:3] == ["thinking", "speaking", "listening"], states
    metrics = client.event("metrics", since=t, source="text")
    assert metrics["first_text_ms"] is not None and metrics["first_frame_ms"] >= metrics["first_audio_ms"]
    assert client.voiced_seconds(t) > 1.0
    assert not client.events("error", since=t)


async def test_interrupt_stops_the_answer_and_truncates_it(server, client):
    session = server.sessions[client.session]
    t, stop, report = await interrupt_answer(client, LONG_QUESTION, 30)
    # About 1.5 s of the ten-second answer was heard: that is where the dialogue history is cut.
    assert 1000 < report["heard_ms"] < 6000
    await client.wait_for(lambda: client.event("state", since=stop, state="listening"), 5)
    await asyncio.sleep(2.0)
    check_voice_stopped(client, session, report)
    assert client.voiced_seconds(t) < 5.0
    assert session.clock.queued == 0
    # The next turn is answered normally.
    t2 = time.monotonic()
    client.send({"type": "text", "text": SHORT_QUESTION})
    await client.wait_for(lambda: client.first_voiced_after(t2), 30)


async def test_speaking_over_the_answer_barges_in(server, client, question48):
    session = server.sessions[client.session]
    t = time.monotonic()
    client.send({"type": "text", "text": LONG_QUESTION})
    await client.wait_for(lambda: client.first_voiced_after(t), 30)
    await asyncio.sleep(1.0)
    said = time.monotonic()
    client.say(question48)
    report = await client.wait_for(lambda: client.event("metrics", since=said, barge_in="speech"), 15)
    assert report["heard_ms"] > 500
    assert any(b["barge_in"] == "speech" for b in session.barge_ins)
    # The user's new question is heard and answered (the state was "listening" since the barge-in).
    await client.wait_for(lambda: client.event("transcript", since=said, role="user", final=True), 30)
    await client.wait_for(lambda: client.event("state", since=said, state="speaking"), 30)


async def test_two_sessions_at_once(server):
    a, b = LiveClient(server.url), LiveClient(server.url)
    await asyncio.gather(a.connect(), b.connect())
    try:
        assert a.session != b.session
        t = time.monotonic()
        a.send({"type": "text", "text": SHORT_QUESTION})
        b.send({"type": "text", "text": "Does it need a GPU?"})
        for c in (a, b):
            await c.wait_for(lambda c=c: c.event("transcript", since=t, role="assistant", final=True), 30)
            await c.wait_for(lambda c=c: c.voiced_seconds(t) > 1.0, 30)
        assert "free" in a.event("transcript", since=t, role="assistant", final=True)["text"].lower()
        assert "graphics card" in b.event("transcript", since=t, role="assistant", final=True)["text"].lower()
        assert a.received.video_count > 25 and b.received.video_count > 25
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_malformed_offers_are_refused_and_the_server_keeps_serving(server):
    bad_bodies = [b"not json", b"[]", json.dumps({"type": "offer"}).encode(),
                  json.dumps({"sdp": "hello", "type": "offer"}).encode(),
                  json.dumps({"sdp": "v=0\r\n", "type": "answer"}).encode(),
                  json.dumps({"sdp": "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "type": "offer"}).encode(),
                  json.dumps({"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
                              "type": "offer"}).encode()]
    json_type = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body in bad_bodies:
            async with http.post(f"{server.url}/offer", data=body, headers=json_type) as response:
                assert response.status == 400, body
                assert (await response.json())["error"]
        # A form or text/plain post (which any page may send without asking) is not an offer,
        # and a body beyond the limit is said to be too large, not "not JSON".
        async with http.post(f"{server.url}/offer", data=bad_bodies[-1], headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 415 and "application/json" in (await response.json())["error"]
        huge = json.dumps({"sdp": "v=0\r\n" + "a=x\r\n" * 100_000, "type": "offer"})
        async with http.post(f"{server.url}/offer", data=huge, headers=json_type) as response:
            assert response.status == 413 and "larger than" in (await response.json())["error"]
        async with http.get(f"{server.url}/healthz") as response:
            assert (await response.json())["ok"] is True
        async with http.get(f"{server.url}/") as response:
            assert response.status == 200 and "livehuman" in await response.text()
    await wait_sessions(server, 0)  # the last test's sessions go; none of the bad offers made one
    c = LiveClient(server.url)
    await c.connect()
    await c.close()


async def test_an_offer_whose_peer_never_connects_gives_its_place_back(server):
    from aiortc import RTCPeerConnection

    await wait_sessions(server, 0)
    server.config.connect_timeout = 2.0
    pc = RTCPeerConnection()
    try:
        pc.createDataChannel("events")
        # No microphone (recvonly), so no silence timer either: only the connection deadline can end it.
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as response:
                assert response.status == 200
                session = (await response.json())["session"]
        assert session in server.sessions  # answered, and the answer is never used: no connection comes
        await wait_sessions(server, 0, timeout=10)
    finally:
        server.config.connect_timeout = 20.0
        await pc.close()


async def test_beyond_max_sessions_the_answer_is_busy(server):
    await wait_sessions(server, 0)
    clients = [LiveClient(server.url) for _ in range(MAX_SESSIONS)]
    await asyncio.gather(*(c.connect() for c in clients))
    extra = LiveClient(server.url)
    try:
        with pytest.raises(ConnectionError, match="503.*busy"):
            await extra.connect()
        # A new offer that comes just before a visitor hangs up (a reload: the server has not seen the
        # old connection close yet) waits for the place rather than say "busy".
        again = LiveClient(server.url)
        connecting = asyncio.ensure_future(again.connect())
        await asyncio.sleep(1.0)  # the offer is made and posted meanwhile
        await clients[0].close()
        clients[0] = again
        await connecting
        assert len([s for s in server.sessions.values() if not s.ending]) == MAX_SESSIONS
    finally:
        await extra.close()
        await asyncio.gather(*(c.close() for c in clients))


async def test_a_starved_server_waits_for_a_hang_up_by_its_own_time(server):
    # An overloaded server's event loop lags; it reads a hang-up late. Here, once the new offer is
    # in, every turn of the loop is held 200 ms (as a starved one is), and the hang-up comes 3 s
    # after the offer: past the grace by the clock (the offer was refused "busy" then), within it
    # by the server's own time.
    await wait_sessions(server, 0)
    clients = [LiveClient(server.url) for _ in range(MAX_SESSIONS)]
    await asyncio.gather(*(c.connect() for c in clients))
    loop = asyncio.get_running_loop()
    starved = True

    def hold_the_loop() -> None:
        if starved:
            time.sleep(0.2)
            loop.call_soon(hold_the_loop)

    again = LiveClient(server.url)
    try:
        connecting = asyncio.ensure_future(again.connect())
        await asyncio.sleep(0.5)  # the offer is made and posted meanwhile
        loop.call_soon(hold_the_loop)
        await asyncio.sleep(2.5)
        await clients[0].close()
        clients[0] = again
        while again.session is None and not connecting.done():  # answered (or refused) while starved
            await asyncio.sleep(0.05)
        starved = False
        await connecting
    finally:
        starved = False
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_garbage_on_the_data_channel_gets_errors_and_the_session_survives(client):
    t = time.monotonic()
    for garbage in ["not json", "[1, 2]", json.dumps({"type": "dance"}), json.dumps({"type": "text", "text": ""}),
                    json.dumps({"type": "text", "text": 42}), json.dumps({"type": "text", "text": "x" * 5000})]:
        client.send(garbage)
    await client.wait_for(lambda: len(client.events("error", since=t)) >= 6, 10)
    assert all(e["message"] for e in client.events("error", since=t))
    client.send({"type": "text", "text": SHORT_QUESTION})
    await client.wait_for(lambda: client.event("transcript", since=t, role="assistant", final=True), 30)


VANISHING_CLIENT = """
import asyncio, sys, time
from livehuman.live.client import LiveClient
async def main():
    c = LiveClient(sys.argv[1])
    await c.connect()
    print(c.session, flush=True)
    t = time.monotonic()
    c.send({"type": "text", "text": "What is livehuman?"})
    await c.wait_for(lambda: c.first_voiced_after(t), 30)
    print("speaking", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


async def test_a_client_that_vanishes_mid_reply_ends_its_session_only(server, client):
    proc = subprocess.Popen([sys.executable, "-c", VANISHING_CLIENT, server.url], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent)
    try:
        loop = asyncio.get_running_loop()
        session_id = (await loop.run_in_executor(None, proc.stdout.readline)).strip()
        assert (await loop.run_in_executor(None, proc.stdout.readline)).strip() == "speaking"
        assert session_id in server.sessions
        os.kill(proc.pid, signal.SIGKILL)  # gone without a word, mid-reply
    finally:
        proc.kill()
        proc.wait()
    t = time.monotonic()
    client.send({"type": "text", "text": SHORT_QUESTION})
    await client.wait_for(lambda: client.event("transcript", since=t, role="assistant", final=True), 30)
    await client.wait_for(lambda: client.voiced_seconds(t) > 1.0, 30)
    deadline = time.monotonic() + 15
    while session_id in server.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert session_id not in server.sessions
    assert client.session in server.sessions


async def test_a_microphone_that_stops_sending_ends_its_session_and_says_why(server):
    """A visitor whose microphone stops (gone without hanging up: the connection is still up) is
    ended after the inactivity timeout, and the page is told why; the timeout is a watchdog's now
    that the microphone's packets are no longer each awaited with one."""
    c = LiveClient(server.url)
    await c.connect()
    try:
        await c.wait_for(lambda: server.sessions[c.session]._mic_ms > 1000, 10, "a second of microphone")
        next(s for s in c.pc.getSenders() if s.track is c.mic).replaceTrack(None)  # no more packets
        t = time.monotonic()
        ended = await c.wait_for(lambda: c.event("ended"), server.config.inactivity_timeout + 10, "the session's end")
        assert ended["reason"] == f"no audio from the client for {server.config.inactivity_timeout:g} s"
        assert time.monotonic() - t > server.config.inactivity_timeout - 1
    finally:
        await c.close()
    await wait_sessions(server, 0)


async def test_an_offer_without_opus_is_refused_with_a_reason(server):
    from aiortc import RTCPeerConnection, RTCRtpSender

    pc = RTCPeerConnection()
    try:
        pc.createDataChannel("events")
        audio = pc.addTransceiver("audio", direction="recvonly")
        audio.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/PCMU"])
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert "opus" not in pc.localDescription.sdp.lower()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as response:
                assert response.status == 400
                assert "Opus" in (await response.json())["error"]
    finally:
        await pc.close()
    await wait_sessions(server, 0)


def video_sender(server, client):
    return next(t.sender for t in server._peers[client.session].getTransceivers() if t.kind == "video")


async def test_a_visitor_offering_only_h264_sees_the_face_in_h264(server):
    """A browser may offer H.264 alone: the face is sent in it, by aiortc's H.264 encoder (the face's
    own encoder is VP8's)."""
    from aiortc import RTCRtpReceiver

    c = LiveClient(server.url)
    h264 = [codec for codec in RTCRtpReceiver.getCapabilities("video").codecs if codec.mimeType.lower() == "video/h264"]
    next(t for t in c.pc.getTransceivers() if t.kind == "video").setCodecPreferences(h264)
    await c.connect()
    try:
        assert "vp8" not in c.answer_sdp.lower()
        await c.wait_for(lambda: c.received.video_count >= 10, 20)
        assert type(video_sender(server, c)._RTCRtpSender__encoder).__name__ == "H264Encoder"
    finally:
        await c.close()
    await wait_sessions(server, 0)


async def test_a_session_the_server_ends_tells_the_page_why(server):
    """Shutting down, or a microphone silent too long: the page says why the conversation ended
    (it used to show "conversation ended" as if the visitor had hung up)."""
    c = LiveClient(server.url)
    await c.connect()
    try:
        await server.sessions[c.session].close("server shutdown")
        ended = await c.wait_for(lambda: c.event("ended"), 10, "the session's last word")
        assert ended["reason"] == "server shutdown"
    finally:
        await c.close()
    await wait_sessions(server, 0)
