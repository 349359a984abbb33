"""Face detection and 478-point landmarks, with mediapipe's face mesh (models ship in its wheel)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

# Landmark indices of mediapipe's face mesh used across the project.
UPPER_LIP_INNER_MID = 13
LOWER_LIP_INNER_MID = 14
MOUTH_LEFT = 61  # mouth corner on the image's left (the person's right)
MOUTH_RIGHT = 291
RIGHT_EYE_CORNERS = (33, 133)  # the person's right eye, on the image's left
LEFT_EYE_CORNERS = (362, 263)
NOSE_TIP = 1
CHIN = 152


@dataclass
class FaceLandmarks:
    """One detected face: 478 points in pixels and how many faces the image held."""

    points: np.ndarray  # (478, 2) float32
    n_faces: int

    @property
    def box(self) -> np.ndarray:
        """x0, y0, x1, y1 around the landmarks."""
        return np.concatenate([self.points.min(0), self.points.max(0)]).astype(np.float32)


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres (mean of each eye's corners), the face's unit of size."""
    right = points[list(RIGHT_EYE_CORNERS)].mean(0)
    left = points[list(LEFT_EYE_CORNERS)].mean(0)
    return float(np.linalg.norm(left - right))


def lip_gap(points: np.ndarray) -> float:
    """Inner-lip gap (landmarks 13 to 14) divided by the inter-ocular distance."""
    return float(np.linalg.norm(points[LOWER_LIP_INNER_MID] - points[UPPER_LIP_INNER_MID])) / inter_ocular(points)


def mouth_width(points: np.ndarray) -> float:
    """Corner-to-corner mouth width (landmarks 61 to 291) divided by the inter-ocular distance."""
    return float(np.linalg.norm(points[MOUTH_RIGHT] - points[MOUTH_LEFT])) / inter_ocular(points)


@contextmanager
def _native_logs_silenced():
    """mediapipe's C++ side logs a few lines to the process's stderr when its graph and models start
    (TFLite delegates, absl warnings); users should see only livehuman's own messages."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class FaceMeshDetector:
    """mediapipe's face mesh; `video=True` tracks across consecutive frames (faster, steadier)."""

    def __init__(self, video: bool = False, max_faces: int = 4):
        import mediapipe as mp  # imported here: it is slow to import and only preparation needs it

        with _native_logs_silenced():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not video,
                max_num_faces=max_faces,
                refine_landmarks=True,
                min_detection_confidence=0.5,
                min_tracking_confidence=0.5,
            )
            # the graph starts its models (and logs) on other threads; a first frame waits for them
            self._mesh.process(np.zeros((64, 64, 3), dtype=np.uint8))
        # the landmark calculators log once more on the first frame that holds a face
        self._quiet = True

    def detect(self, frame_bgr: np.ndarray) -> FaceLandmarks | None:
        """The largest face in the frame, or None when there is none."""
        faces = self.detect_all(frame_bgr)
        return FaceLandmarks(points=faces[0], n_faces=len(faces)) if faces else None

    def detect_all(self, frame_bgr: np.ndarray) -> list[np.ndarray]:
        """Every face in the frame as (478, 2) float32 points in pixels, the largest first."""
        height, width = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        if self._quiet:
            with _native_logs_silenced():
                result = self._mesh.process(rgb)
            self._quiet = not result.multi_face_landmarks
        else:
            result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return []
        scale = np.array([width, height], dtype=np.float32)
        faces = [
            np.array([(p.x, p.y) for p in face.landmark], dtype=np.float32) * scale
            for face in result.multi_face_landmarks
        ]
        return sorted(faces, key=lambda pts: -float(np.prod(pts.max(0) - pts.min(0))))

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceMeshDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
