"""Shared tools for the Realtime tests: strict event checking and real speech to send."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import numpy as np

from helpers_speech import espeak_wav
from livehuman.brain.events import validate_client_event, validate_server_event
from livehuman.speech.audio import load_audio

RATE = 24000
CHUNK = RATE // 50  # 20 ms


def speech_24k(tmp: Path, text: str, lead_s: float = 0.5, tail_s: float = 1.2) -> np.ndarray:
    """`text` spoken by the espeak-ng program, 24 kHz float32, with silence before and after."""
    path = espeak_wav(tmp / f"{abs(hash(text))}.wav", text)
    audio = load_audio(path, RATE).samples
    return np.concatenate([np.zeros(int(lead_s * RATE), np.float32), audio, np.zeros(int(tail_s * RATE), np.float32)])


def pcm16_b64(samples: np.ndarray) -> str:
    return base64.b64encode((np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()).decode()


def pcm16_decode(delta: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(delta), dtype="<i2").astype(np.float32) / 32768.0


class StrictConnection:
    """The SDK's realtime connection, with every event in both directions checked strictly."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.received: list[dict] = []

    async def send(self, event: dict) -> None:
        validate_client_event(event)  # the tests only send what the protocol allows here
        await self.conn.send(event)

    async def send_raw(self, text: str) -> None:
        """Send a message as is (to test the server's answer to bad input)."""
        from openai._websocket_connection import AsyncWebSocketConnectionBase

        await AsyncWebSocketConnectionBase.send_raw(self.conn, text)

    async def recv(self, timeout: float = 20.0) -> dict:
        raw = await asyncio.wait_for(self.conn.recv_bytes(), timeout)
        event = json.loads(raw)
        assert not event["type"].startswith("livehuman."), f"non-standard event on the wire: {event['type']}"
        validate_server_event(event)  # strict: unknown types and fields fail
        parsed = self.conn.parse_event(raw)
        assert parsed.type == event["type"]
        self.received.append(event)
        return event

    async def until(self, kind: str, timeout: float = 30.0) -> list[dict]:
        """Events up to and including the first of type `kind`."""
        got: list[dict] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.recv(max(0.1, deadline - loop.time()))
            got.append(event)
            if event["type"] == kind:
                return got

    async def speak(self, samples: np.ndarray, pace: float = 4.0) -> None:
        """Append audio in 20 ms chunks, `pace` times faster than real time."""
        for i in range(0, len(samples), CHUNK):
            await self.send({"type": "input_audio_buffer.append", "audio": pcm16_b64(samples[i : i + CHUNK])})
            await asyncio.sleep(CHUNK / RATE / pace)


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def first_index(events: list[dict], kind: str) -> int:
    return next(i for i, e in enumerate(events) if e["type"] == kind)

