"""Shared pieces of the live tests: spoken questions, and a real server inside a namespace."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from livehuman.speech.audio import Audio, load_audio, resample, to_pcm16


def speech_wav(text: str, path: Path, rate: int = 48000, lead_silence: float = 0.0) -> Path:
    """Speak `text` with the espeak-ng command into a mono 16-bit WAV at `rate` (with silence first)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path),
                    "pad", f"{lead_silence}", "0"], check=True)
    raw.unlink()
    return path


def speech48(text: str, tmp: Path) -> np.ndarray:
    """`text` spoken by espeak-ng as 48 kHz mono int16 samples."""
    return mic48(load_audio(speech_wav(text, tmp / (str(abs(hash(text))) + ".wav")), rate=48000))


def mic48(audio: Audio) -> np.ndarray:
    """`audio` as the client's microphone takes it (`LiveClient.say`): 48 kHz mono int16 samples."""
    return to_pcm16(resample(audio, 48000).samples)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def candidate_addresses(sdp: str) -> list[str]:
    """The connection addresses of every ICE candidate in an SDP description."""
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def interrupt_answer(client, question: str, first_audio_timeout: float) -> tuple[float, float, dict]:
    """Ask `question` as text and interrupt 1.5 s into its voiced answer.

    Returns (when it was asked, when it was interrupted, the barge-in's metrics message).
    """
    asked = time.monotonic()
    client.send({"type": "text", "text": question})
    await client.wait_for(lambda: client.first_voiced_after(asked), first_audio_timeout)
    await asyncio.sleep(1.5)
    stop = time.monotonic()
    client.send({"type": "interrupt"})
    report = await client.wait_for(lambda: client.event("metrics", since=stop, barge_in="client"), 10)
    return asked, stop, report


def check_voice_stopped(client, session, report: dict) -> None:
    """After a barge-in reported by `report`: the server's clock handed out no voiced packet once it
    had cut the reply, and no voiced packet reached the client after the report did (0.3 s allowed for
    packets in flight; both travel in one UDP flow, in order).

    Arrival is taken as each packet reaches the client's receiver, ahead of its jitter buffer and
    decoder thread, which a starved machine can hold back by a second.
    """
    from livehuman.live.client import VOICED_RMS, rms

    reported = next(t for t, e in client.received.events if e is report)
    voiced_at = session.clock.last_voiced_at
    assert voiced_at is None or voiced_at < reported, (voiced_at, reported)
    late = [net if net == net else t  # NaN: the packet's arrival was not seen; take its decoding
            for (t, samples), net in zip(client.received.audio, client.received.audio_net)
            if rms(samples) > VOICED_RMS]
    assert not [t for t in late if t > reported + 0.3], [round(t - reported, 3) for t in late if t > reported]


async def wait_sessions(server, n: int, timeout: float = 15.0) -> None:
    """Wait until the server holds at most `n` sessions: a closed one takes a moment to go."""
    deadline = time.monotonic() + timeout
    while len(server.sessions) > n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(server.sessions) <= n, f"{len(server.sessions)} sessions still open, expected at most {n}"


async def start_live_server(host: str, **config):
    """A real LiveServer (offline brain, default avatar, cpu engine) listening on `host`.

    Returns (server, runner); `server.url` is its base URL. Clean up with `await runner.cleanup()`.
    """
    from livehuman.live.server import LiveConfig, LiveServer, default_face_factories, local_brain_factory

    face = default_face_factories("default")
    brains = local_brain_factory()
    live = LiveServer(LiveConfig(brain_factory=brains, engine_factory=face.engine_factory,
                                 avatar=face.avatar, lipsync_factory=face.lipsync_factory,
                                 idle_factory=face.idle_factory, resources=[*face.resources, brains], **config))
    runner, live.url = await listen(live.app(), host)
    return live, runner


async def listen(app, host: str, port: int | None = None):
    """Serve the aiohttp application `app` on `host` (at `port`, or a free one).

    Returns (runner, its base URL); clean up with `await runner.cleanup()`.
    """
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port(host)
    await web.TCPSite(runner, host, port).start()
    return runner, f"http://{host}:{port}"
