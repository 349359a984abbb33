"""The controls that drive a face in one video frame."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass
class FaceControls:
    """What the face does in one video frame.

    Mouth values are 0..1 (0 is the relaxed, closed mouth). Expression values are 0..1 except
    `brow` (-1 frown .. 1 raised). Gaze is -1..1 of the eyes' travel; head angles are degrees.
    """

    jaw: float = 0.0  # jaw opening: 1 is the widest opening in normal speech
    spread: float = 0.0  # lip corners pulled wide (/i/, /e/)
    round: float = 0.0  # lips rounded and pushed forward, corners drawn in (/u/, /o/, /w/)
    press: float = 0.0  # lips pressed together (/p/, /b/, /m/)
    tuck: float = 0.0  # lower lip drawn up under the upper teeth (/f/, /v/)
    teeth: float = 0.0  # how much of the teeth shows when the lips part
    tongue: float = 0.0  # tongue tip visible between the teeth (/θ/, /ð/, /l/)
    smile: float = 0.0  # mouth corners up and out, cheeks with them
    frown: float = 0.0  # mouth corners pulled down (sadness), 0..1
    brow: float = 0.0  # both brows: -1 lowered and drawn in (anger) .. 1 raised (surprise)
    brow_inner: float = 0.0  # the brows' inner ends raised (sadness, concern, fear), 0..1
    squint: float = 0.0
    blink: float = 0.0  # 0 open .. 1 closed
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def frame_count(duration: float, fps: float) -> int:
    """Frames needed to show `duration` seconds at `fps` (the last partial frame included)."""
    return max(0, math.ceil(duration * fps - 1e-6))
