"""Real face images and face videos for the avatar tests (photos that ship with matplotlib and scikit-image)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.default import grace_hopper_path
from livehuman.bench.faces import astronaut_path


def no_face_path() -> Path:
    """scikit-image's photo of a coffee cup: a real photo with no face."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "coffee.png"


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def two_faces() -> tuple[np.ndarray, int]:
    """The astronaut's head (smaller face) on the left and Grace Hopper's (larger) on the right;
    returns the image and the x where the right half (Grace Hopper's) starts."""
    astronaut = read(astronaut_path())[10:250, 110:340]  # 230x240, face about 90 px wide
    grace = read(grace_hopper_path())[60:400, 100:430]  # 330x340, face about 180 px wide
    canvas = np.full((340, 230 + 330, 3), 200, dtype=np.uint8)
    canvas[50:290, :230] = astronaut
    canvas[:, 230:] = grace
    return canvas, 230


def haar_face(image: np.ndarray) -> np.ndarray:
    """The largest face box (x0, y0, x1, y1) found by OpenCV's Haar cascade, a detector independent
    of mediapipe's, for checking where the landmarks land."""
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    faces = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), scaleFactor=1.1, minNeighbors=5)
    assert len(faces), "the Haar cascade found no face"
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return np.array([x, y, x + w, y + h], dtype=np.float32)


def decode_all(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of a video (BGR) and its time in seconds from the first, straight from PyAV."""
    import av

    frames, times = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            times.append(frame.time)
    times = np.array(times) - times[0]
    return np.stack(frames), times


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """Frames into an H.264 MP4 (near-lossless)."""
    import av
    from fractions import Fraction

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def shifted_video(photo, shifts):
    """A "video" avatar from a photo avatar (avatar.Avatar): in frame k its face `shifts[k]` pixels
    further right."""
    from dataclasses import replace

    return replace(
        photo, kind="video", extra={},
        frames=np.stack([np.roll(photo.frames[0], s, axis=1) for s in shifts]),
        landmarks=np.stack([photo.landmarks[0] + [s, 0] for s in shifts]).astype(np.float32),
        boxes=np.stack([photo.boxes[0] + [s, 0, s, 0] for s in shifts]).astype(np.float32))
