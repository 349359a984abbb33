"""One merge of a frame's face controls, for every driver: idle life, lip sync and expression.

The live renderer, the batch render and `add_life` all call `compose` once per frame, so a
sentence moves the face the same way whether it streams to a browser or renders to a file.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from livehuman.motion.controls import FaceControls

MOUTH = ("jaw", "spread", "round", "press", "tuck", "teeth", "tongue")
EXPRESSION = ("smile", "frown", "brow", "brow_inner", "squint")
SMILE_YIELD = 0.7  # how much of the emotion's smile a rounded mouth (/u/, /o/, /w/) takes back: it draws the corners in
MOTION = ("gaze_x", "gaze_y", "yaw", "pitch", "roll")


def compose(life: FaceControls, mouth: FaceControls | None = None,
            expression: FaceControls | None = None) -> FaceControls:
    """One frame's face from its layers, each optional but the life.

    - `life`: the idle motion (blinks, glances, sway, breathing, a listener's nods); its mouth is
      ignored.
    - `mouth`: the lip sync's frame while speaking (None while listening: the mouth rests closed).
      Its mouth channels are taken as they are; its expression channels are the speech's emphasis
      (brows that lift on stressed syllables), laid over the resting expression as a maximum.
    - `expression`: the emotion's expression (motion.expression): added to the life's expression,
      gaze and head, clipped to the channels' ranges. Where it meets the mouth, the mouth wins:
      the smile never touches the lip closure or the jaw, and a rounded mouth takes most of it back.
    Blinks are the maximum of every layer's; gaze and head angles add up.
    """
    out = replace(life, **{name: 0.0 for name in MOUTH})
    if expression is not None:
        for name in EXPRESSION + MOTION:
            setattr(out, name, getattr(out, name) + getattr(expression, name))
        if mouth is not None:  # the emotion's smile yields to a rounding mouth
            out.smile -= SMILE_YIELD * float(np.clip(mouth.round, 0.0, 1.0)) * expression.smile
        out.blink = max(out.blink, expression.blink)
    if mouth is not None:
        for name in MOUTH:
            setattr(out, name, getattr(mouth, name))
        for name in EXPRESSION:
            setattr(out, name, max(getattr(out, name), getattr(mouth, name)))
        for name in MOTION:
            setattr(out, name, getattr(out, name) + getattr(mouth, name))
        out.blink = max(out.blink, mouth.blink)
    out.smile = float(np.clip(out.smile, 0.0, 1.0))
    out.frown = float(np.clip(out.frown, 0.0, 1.0))
    out.squint = float(np.clip(out.squint, 0.0, 1.0))
    out.brow = float(np.clip(out.brow, -1.0, 1.0))
    out.brow_inner = float(np.clip(out.brow_inner, 0.0, 1.0))
    return out

