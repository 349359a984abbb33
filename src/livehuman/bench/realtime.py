"""`livehuman bench realtime`: turn latency of the offline brain over /v1/realtime, as the openai SDK sees it.

Speaks espeak-ng questions into the server at real-time pace (20 ms chunks) and prints, per turn:
end of speech → speech_stopped (the VAD's silence wait), speech_stopped → first audio delta
(recognition + dialogue + first sentence of TTS), and end of speech → first audio delta.

    livehuman bench realtime [--silence-ms 500] [--fast-asr] [--json]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from livehuman.bench.options import RealtimeOptions, from_args
from livehuman.brain.wire import encode_pcm16
from livehuman.rates import REALTIME_RATE
from livehuman.speech.audio import load_audio

QUESTIONS = ["What is your name?", "What can you do?", "How does it work?", "Thank you!", "Goodbye!"]
RATE = REALTIME_RATE
CHUNK = RATE // 50


def speech(text: str, tmp: Path) -> tuple[np.ndarray, float]:
    path = tmp / "q.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    audio = load_audio(path, RATE).samples
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    lead = np.zeros(RATE // 2, np.float32)
    tail = np.zeros(int(RATE * 1.5), np.float32)
    return np.concatenate([lead, audio, tail]), (len(lead) + loud[-1]) / RATE


async def turn(conn, audio: np.ndarray, end_s: float) -> tuple[float, float, float]:
    t0 = time.monotonic()
    marks: dict[str, float] = {}

    async def feed() -> None:
        for i in range(0, len(audio), CHUNK):
            await asyncio.sleep(max(0.0, t0 + i / RATE - time.monotonic()))
            await conn.input_audio_buffer.append(audio=encode_pcm16(audio[i : i + CHUNK]))

    feeding = asyncio.create_task(feed())
    while True:
        event = json.loads(await conn.recv_bytes())
        now = time.monotonic()
        if event["type"] == "input_audio_buffer.speech_stopped":
            marks.setdefault("stopped", now)
        elif event["type"] == "response.output_audio.delta":
            marks.setdefault("audio", now)
        elif event["type"] == "response.done":
            break
    await feeding
    end = t0 + end_s
    return marks["stopped"] - end, marks["audio"] - marks["stopped"], marks["audio"] - end


async def _bench(o: RealtimeOptions) -> dict:
    from openai import AsyncOpenAI

    from livehuman.brain.local_factory import LocalBrainFactory
    from livehuman.brain.server import start_realtime_server

    make = LocalBrainFactory(asr_second_pass=not o.fast_asr)
    await asyncio.to_thread(make.warm_up)
    server = await start_realtime_server(make)
    rows = []
    results: dict = {"silence_duration_ms": o.silence_ms, "fast_asr": o.fast_asr}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = AsyncOpenAI(api_key="bench", websocket_base_url=server.url)
            async with client.realtime.connect(model="livehuman") as conn:
                await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {
                    "type": "server_vad", "silence_duration_ms": o.silence_ms}}}})
                for text in QUESTIONS:
                    audio, end_s = speech(text, Path(tmp))
                    rows.append(await turn(conn, audio, end_s))
                    results[text] = (f"end→stopped {rows[-1][0]*1000:.0f} ms, stopped→audio {rows[-1][1]*1000:.0f} ms, "
                                     f"end→audio {rows[-1][2]*1000:.0f} ms")
    finally:
        await server.stop()
    med = [statistics.median(col) * 1000 for col in zip(*rows)]
    results.update({"median end of speech→speech_stopped ms": med[0], "median speech_stopped→first audio ms": med[1],
                    "median end of speech→first audio ms": med[2]})
    return results


def bench_realtime(options: RealtimeOptions | None = None) -> dict:
    """Each question's three latencies, and their medians."""
    return asyncio.run(_bench(options or RealtimeOptions()))


def bench_realtime_from_args(args) -> dict:
    """`livehuman bench realtime [--silence-ms N] [--fast-asr]`."""
    return bench_realtime(from_args(RealtimeOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("realtime")
