"""Benchmark of the cpu engine alone: frames per second on one core."""

from __future__ import annotations

import time

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive


def speech_like_controls(k: int, fps: float = 25.0) -> FaceControls:
    """Controls that move like speech: syllables of varied shapes, closures, blinks, head sway."""
    t = k / fps
    syllable = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    shape = (k // 6) % 4
    return FaceControls(
        jaw=float(syllable * (0.9 if shape != 3 else 0.0)),
        spread=float(shape == 1) * 0.8,
        round=float(shape == 2) * 0.9,
        press=float(shape == 3),
        teeth=0.5,
        tongue=0.2,
        blink=1.0 if k % 90 < 3 else 0.0,
        yaw=float(2 * np.sin(2 * np.pi * 0.2 * t)),
        pitch=float(1.5 * np.sin(2 * np.pi * 0.13 * t)),
        roll=float(np.sin(2 * np.pi * 0.1 * t)),
    )


def bench_engine(avatar: Avatar, seconds: float = 10.0, head_motion: bool = True) -> dict:
    """Render speech-like frames for `seconds` on one thread; returns fps and ms per frame."""
    engine = CpuEngine(head_motion=head_motion)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        engine.load(avatar)
        for k in range(avatar.n_frames):  # first use of a frame builds its rig: not timed
            engine.render(avatar, k, FrameDrive(FaceControls()))
        frames = 0
        start = time.perf_counter()
        while True:
            engine.render(avatar, frames, FrameDrive(speech_like_controls(frames)))
            frames += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
    finally:
        cv2.setNumThreads(threads)
    width, height = avatar.size
    return {
        "engine": engine.name,
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 1),
        "ms_per_frame": round(1000 * elapsed / frames, 3),
        "size": f"{width}x{height}",
        "threads": 1,
    }
