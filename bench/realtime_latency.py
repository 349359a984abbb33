"""Turn latency of the offline brain over /v1/realtime, as the openai SDK sees it.

Speaks espeak-ng questions into the server at real-time pace (20 ms chunks) and prints, per turn:
end of speech → speech_stopped (the VAD's silence wait), speech_stopped → first audio delta
(recognition + dialogue + first sentence of TTS), and end of speech → first audio delta.

    .venv/bin/python bench/realtime_latency.py [--silence-ms 500] [--fast-asr]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from openai import AsyncOpenAI

from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.server import start_realtime_server
from livehuman.speech.audio import load_audio

QUESTIONS = ["What is your name?", "What can you do?", "How does it work?", "Thank you!", "Goodbye!"]
RATE = 24000
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
            pcm = (audio[i : i + CHUNK] * 32767).astype("<i2").tobytes()
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())

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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silence-ms", type=int, default=500, help="server_vad silence_duration_ms")
    parser.add_argument("--fast-asr", action="store_true", help="skip pocketsphinx's second pass")
    args = parser.parse_args()
    make = LocalBrainFactory(asr_second_pass=not args.fast_asr)
    await asyncio.to_thread(make.warm_up)
    server = await start_realtime_server(make)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        client = AsyncOpenAI(api_key="bench", websocket_base_url=server.url)
        async with client.realtime.connect(model="livehuman") as conn:
            await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": {
                "type": "server_vad", "silence_duration_ms": args.silence_ms}}}})
            for text in QUESTIONS:
                audio, end_s = speech(text, Path(tmp))
                rows.append(await turn(conn, audio, end_s))
                print(f"{text:24s} end→stopped {rows[-1][0]*1000:5.0f} ms   stopped→audio {rows[-1][1]*1000:5.0f} ms"
                      f"   end→audio {rows[-1][2]*1000:5.0f} ms")
    await server.stop()
    med = [statistics.median(col) * 1000 for col in zip(*rows)]
    print(f"median (silence_duration_ms={args.silence_ms}, fast_asr={args.fast_asr}): end→stopped {med[0]:.0f} ms, "
          f"stopped→first audio {med[1]:.0f} ms, end of speech→first audio {med[2]:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
