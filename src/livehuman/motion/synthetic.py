"""Face controls made up rather than derived from speech: a steady, reproducible workload for the
renderers' benchmarks and tests."""

from __future__ import annotations

import numpy as np

from livehuman.motion.controls import FaceControls
from livehuman.rates import FPS


def speech_like_controls(k: int, fps: float = FPS) -> FaceControls:
    """Frame `k`'s controls, moving like speech: syllables of varied shapes, closures, blinks, head sway."""
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
