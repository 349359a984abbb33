"""A one-frame avatar straight from a photo, outside the avatar cache: for engines' tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.errors import LivehumanError
from livehuman.rates import FPS


def photo_avatar(image: str | Path, directory: str | Path, fps: float = float(FPS),
                 landmarks: str | Path | None = None) -> Avatar:
    """A one-frame avatar from a photo, with face-mesh landmarks (enough for engines and benchmarks);
    `landmarks` names a .npy of its 478 points saved earlier, for machines without mediapipe."""
    import cv2

    frame = cv2.imread(str(image))
    if frame is None:
        raise LivehumanError(f"cannot read the image {image}")
    if landmarks is not None:
        points = np.load(landmarks).astype(np.float32)
        if points.shape != (478, 2):
            raise LivehumanError(f"{landmarks} holds {points.shape} points, not the face mesh's (478, 2)")
        box = np.concatenate([points.min(0), points.max(0)]).astype(np.float32)  # as FaceLandmarks.box
    else:
        from livehuman.avatar.landmarks import FaceMeshDetector

        with FaceMeshDetector() as detector:
            face = detector.detect(frame)
        if face is None:
            raise LivehumanError(f"no face found in {image}")
        points, box = face.points, face.box
    return Avatar(Path(image).stem, Path(directory), fps, "photo", frame[None], points[None], np.asarray(box)[None])
