"""Real synthetic speech for the VAD and ASR tests: espeak-ng and flite, resampled by sox to 16 kHz."""

from __future__ import annotations

import asyncio
import re
import subprocess

import numpy as np

RATE = 16000


def _to_16k(wav: bytes) -> np.ndarray:
    raw = subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-c", "1", "-e", "floating-point",
         "-b", "32", "-"],
        input=wav, capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def espeak(text: str, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """Speak `text` with espeak-ng; 16 kHz float32 mono."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True, check=True,
    ).stdout
    return _to_16k(wav)


def flite(text: str, voice: str = "slt") -> np.ndarray:
    """Speak `text` with flite; 16 kHz float32 mono."""
    wav = subprocess.run(
        ["flite", "-voice", voice, "-t", text, "-o", "/dev/stdout"],
        capture_output=True, check=True,
    ).stdout
    return _to_16k(wav)


def voiced_span(audio: np.ndarray, floor_db: float = -40.0) -> tuple[float, float]:
    """First and last time (s) where the 10 ms RMS exceeds `floor_db` below the peak."""
    hop = RATE // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    rms = np.sqrt((frames ** 2).mean(axis=1)) + 1e-12
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > floor_db)[0]
    return loud[0] * hop / RATE, (loud[-1] + 1) * hop / RATE


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, numbers spelled as the recognizer writes them."""
    return re.findall(r"[a-z']+", text.lower())


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between word lists (substitutions + insertions + deletions)."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]


def espeak_paused(prefix: str, rest: str, voice: str = "en-us", speed: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """`prefix rest` said by espeak-ng as one sentence, cut where the prefix's last sound ends (16 kHz).

    A person who stops to think mid-sentence does not let their voice fall as at a sentence's end;
    the prefix said alone would. Put the thinking pause between the two halves.
    """
    from livehuman.speech.espeak import EspeakTTS

    return said_paused(EspeakTTS(voice, speed).synthesize, prefix, rest)


def said_paused(say, prefix: str, rest: str) -> tuple[np.ndarray, np.ndarray]:
    """`prefix rest` said as one sentence by `say` (text → speech.audio.Speech, with its phones), cut
    where the prefix's last sound ends (16 kHz): see espeak_paused."""
    from livehuman.speech.audio import resample

    whole = say(f"{prefix} {rest}")
    cut = whole.phones[len(say(prefix).phones) - 1].end
    audio = resample(whole.audio, RATE).samples.astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    k = int(round(cut * RATE))
    return audio[loud[0]:k], audio[k:loud[-1] + 1]


def record_events(brain) -> tuple[list, asyncio.Task]:
    """A list that the brain's events are appended to as they come, and the task that does it."""
    events: list = []

    async def run():
        async for event in brain.events():
            events.append(event)

    return events, asyncio.get_running_loop().create_task(run())


async def speak_into(brain, audio: np.ndarray) -> None:
    """16 kHz audio into the brain in 20 ms chunks at real-time pace, as a microphone gives it."""
    for i in range(0, len(audio), 320):
        await brain.push_audio(audio[i : i + 320], RATE)
        await asyncio.sleep(0.02)
