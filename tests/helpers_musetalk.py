"""Shared pieces of the musetalk engine's tests: real speech, drives, loud frames, eye openness."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from livehuman.avatar.landmarks import inter_ocular
from livehuman.motion.controls import FaceControls
from livehuman.rates import LISTEN_RATE
from livehuman.render.engine import FrameDrive
from livehuman.render.musetalk.audio import clip_windows, speech_weight


def espeak_16k(text: str, directory: Path, voice: str = "en") -> np.ndarray:
    """`text` spoken by espeak-ng, as 16 kHz mono float32."""
    raw, wav = directory / "raw.wav", directory / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(LISTEN_RATE), str(wav)],
                   check=True)
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return pcm.astype(np.float32) / 32768.0


def drives_for(windows: np.ndarray, controls: FaceControls | None = None) -> list[FrameDrive]:
    return [FrameDrive(controls or FaceControls(), w) for w in windows]


def loud_frames(speech: np.ndarray, n: int) -> list[int]:
    """Indices of `n` frames whose audio is clearly speech."""
    windows = clip_windows(speech)
    loud = np.flatnonzero(speech_weight(windows) >= 1.0)
    assert len(loud) >= n
    return [int(i) for i in loud[np.linspace(0, len(loud) - 1, n).astype(int)]]


def eye_opening(points: np.ndarray) -> float:
    """Both eyes' lid gaps over the inter-ocular distance (as the cpu engine's tests measure it)."""
    return float((np.linalg.norm(points[145] - points[159]) + np.linalg.norm(points[374] - points[386]))
                 / inter_ocular(points))

