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
CHEEK_RIGHT, CHEEK_LEFT = 234, 454  # the face's outline level with the eyes, image-left and image-right


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


def eye_widths(points: np.ndarray) -> float:
    """The narrower eye's width (corner to corner) over the wider one's: 1 facing the camera, less as
    the head turns and the far eye is foreshortened."""
    widths = [float(np.linalg.norm(points[a] - points[b])) for a, b in (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS)]
    return min(widths) / max(max(widths), 1e-6)


def face_width(points: np.ndarray) -> float:
    """The face's width in pixels, cheek to cheek (landmarks 234 to 454)."""
    return float(np.linalg.norm(points[CHEEK_RIGHT] - points[CHEEK_LEFT]))


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


# The face mesh finds faces with mediapipe's short-range detector (faces within about 2 m, a large
# part of the frame): the faces of a group photo or a small face in a wide frame go unseen. Its
# full-range detector finds those; each is then meshed in a crop this many times its box's size.
CROP_SCALE = 2.4
# A face the mesh finds directly but that spans less than this share of the frame's shorter side
# is meshed again in such a crop: the short-range detector's box for it can be off, and so are the
# points (in a group photo, a 136 px face came out 119 px wide with its open mouth a third shut).
# A fifth, not a quarter: the astronaut (107 px of 512) meshed in a crop gave lips that never read
# closed again once rendered (silence 0.26 of the open mouth, against 0.07 meshed whole).
REFINE_BELOW = 0.2
# Full-range detection sees the frame at 192x192; a frame larger than this is also searched in
# overlapping tiles of this size when the whole frame shows no face.
TILE = 640


class FaceMeshDetector:
    """mediapipe's face mesh; `video=True` tracks across consecutive frames (faster, steadier).

    Faces the mesh's own detector misses (small in the frame, as in a group photo) are found with the
    full-range face detector and meshed in a crop around each."""

    def __init__(self, video: bool = False, max_faces: int = 4):
        import mediapipe as mp  # imported here: it is slow to import and only preparation needs it

        self._mp = mp
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
        # the landmark calculators log once more on each mesh's first frame that holds a face
        self._spoken: set[int] = set()
        self._finder = None  # the full-range detector and a one-face mesh for crops, started on need
        self._crop_mesh = None
        self._last_crops: list[tuple[int, int, int]] = []  # crops that held a face in the last frame

    def detect(self, frame_bgr: np.ndarray, thorough: bool = False) -> FaceLandmarks | None:
        """The largest face in the frame, or None when there is none."""
        faces = self.detect_all(frame_bgr, thorough)
        return FaceLandmarks(points=faces[0], n_faces=len(faces)) if faces else None

    def detect_all(self, frame_bgr: np.ndarray, thorough: bool = False) -> list[np.ndarray]:
        """Every face in the frame as (478, 2) float32 points in pixels, the largest first.

        Small faces are searched for when the mesh alone finds none, or always when `thorough`
        (a photo: to find every face of a group and take the largest)."""
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        faces = [self._refined(rgb, points) for points in self._meshed(self._mesh, rgb)]
        if thorough or not faces:
            faces += self._small_faces(rgb, faces, thorough)
        return sorted(faces, key=lambda pts: -float(np.prod(pts.max(0) - pts.min(0))))

    def _meshed(self, mesh, rgb: np.ndarray) -> list[np.ndarray]:
        height, width = rgb.shape[:2]
        if id(mesh) not in self._spoken:
            with _native_logs_silenced():
                result = mesh.process(rgb)
            if result.multi_face_landmarks:
                self._spoken.add(id(mesh))
        else:
            result = mesh.process(rgb)
        if not result.multi_face_landmarks:
            return []
        scale = np.array([width, height], dtype=np.float32)
        return [
            np.array([(p.x, p.y) for p in face.landmark], dtype=np.float32) * scale
            for face in result.multi_face_landmarks
        ]

    def _refined(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """A face small in the frame, meshed again in a crop around it (as found when that fails)."""
        if float((points.max(0) - points.min(0)).max()) >= REFINE_BELOW * min(rgb.shape[:2]):
            return points
        self._start_search()
        again = self._crop_face(rgb, _crop_around(points))
        return points if again is None else again

    def _small_faces(self, rgb: np.ndarray, found: list[np.ndarray], thorough: bool) -> list[np.ndarray]:
        """Faces the mesh's detector missed: each box of the full-range detector meshed in a crop."""
        self._start_search()
        faces: list[np.ndarray] = []
        if self._last_crops and not thorough:
            # a small face in a video: the crop that held it in the last frame most likely holds it now
            faces = self._mesh_crops(rgb, self._last_crops, found)
        if not faces:
            faces = self._mesh_crops(rgb, self._find(rgb), found)
        self._last_crops = [_crop_around(points) for points in faces]
        return faces

    def _start_search(self) -> None:
        if self._finder is None:
            with _native_logs_silenced():
                solutions = self._mp.solutions
                self._finder = solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
                self._crop_mesh = solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
                )
                # as in __init__: a first frame waits for the models' start (and their logs)
                blank = np.zeros((64, 64, 3), dtype=np.uint8)
                self._finder.process(blank)
                self._crop_mesh.process(blank)

    def _mesh_crops(self, rgb: np.ndarray, crops: list[tuple[int, int, int]], found: list[np.ndarray]) -> list[np.ndarray]:
        faces: list[np.ndarray] = []
        for crop in crops:
            if _covered(np.array(crop[:2], np.float32), found + faces):
                continue
            points = self._crop_face(rgb, crop)
            if points is not None and not _covered(points.mean(0), found + faces):
                faces.append(points)
        return faces

    def _find(self, rgb: np.ndarray) -> list[tuple[int, int, int]]:
        """Crops (centre x, centre y, side) around the faces the full-range detector sees, searching
        overlapping tiles of a large frame when the whole frame shows none."""
        height, width = rgb.shape[:2]
        crops = self._boxes(rgb, 0, 0)
        if not crops and max(height, width) > TILE:
            step = TILE // 2
            for y in range(0, max(height - step, 1), step):
                for x in range(0, max(width - step, 1), step):
                    for crop in self._boxes(rgb[y : y + TILE, x : x + TILE], x, y):
                        if not any(abs(crop[0] - c[0]) + abs(crop[1] - c[1]) < crop[2] / 4 for c in crops):
                            crops.append(crop)
        return crops

    def _boxes(self, rgb: np.ndarray, x0: int, y0: int) -> list[tuple[int, int, int]]:
        height, width = rgb.shape[:2]
        with _native_logs_silenced():
            result = self._finder.process(np.ascontiguousarray(rgb))
        crops = []
        for detection in result.detections or []:
            box = detection.location_data.relative_bounding_box
            w, h = box.width * width, box.height * height
            cx, cy = x0 + (box.xmin + box.width / 2) * width, y0 + (box.ymin + box.height / 2) * height
            crops.append((int(round(cx)), int(round(cy)), int(round(CROP_SCALE * max(w, h)))))
        return crops

    def _crop_face(self, rgb: np.ndarray, crop: tuple[int, int, int]) -> np.ndarray | None:
        """The face mesh of one square crop (centre x, centre y, side), in the frame's pixels."""
        height, width = rgb.shape[:2]
        cx, cy, side = crop
        x0, y0 = max(cx - side // 2, 0), max(cy - side // 2, 0)
        x1, y1 = min(cx + side // 2, width), min(cy + side // 2, height)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        faces = self._meshed(self._crop_mesh, np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        return faces[0] + np.array([x0, y0], np.float32) if faces else None

    def close(self) -> None:
        self._mesh.close()
        if self._finder is not None:
            self._finder.close()
            self._crop_mesh.close()

    def __enter__(self) -> "FaceMeshDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _covered(centre: np.ndarray, faces: list[np.ndarray]) -> bool:
    """Whether `centre` lies inside the landmark box of any of `faces` (the same face found twice)."""
    return any(bool(((face.min(0) <= centre) & (centre <= face.max(0))).all()) for face in faces)


def _crop_around(points: np.ndarray) -> tuple[int, int, int]:
    lo, hi = points.min(0), points.max(0)
    centre = (lo + hi) / 2
    return int(round(centre[0])), int(round(centre[1])), int(round(CROP_SCALE * 0.8 * float((hi - lo).max())))
