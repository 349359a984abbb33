"""The default avatar (a real portrait that ships with matplotlib) and short face videos made from a photo.

The default face is matplotlib's sample photo of Grace Hopper (public domain, U.S. Navy), cropped to
a 512x512 head-and-shoulders portrait, so `livehuman render --text "Hello"` needs no user files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.landmarks import FaceMeshDetector
from livehuman.avatar.prepare import prepare_avatar
from livehuman.avatar.store import avatar_root, locked, read_avatar, read_meta
from livehuman.errors import LivehumanError

DEFAULT_NAME = "default"
PORTRAIT_SIZE = 512
# Where the face's centre sits in the default portrait, as fractions of its width and height.
FACE_CENTRE = (0.5, 0.44)


def grace_hopper_path() -> Path:
    """matplotlib's sample portrait of Grace Hopper (512x600, closed mouth)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        raise LivehumanError(f"matplotlib's sample photo is missing ({path}); reinstall matplotlib")
    return path


def portrait(image: np.ndarray, size: int = PORTRAIT_SIZE) -> np.ndarray:
    """A size x size head-and-shoulders crop of a photo with its face centred near FACE_CENTRE."""
    with FaceMeshDetector(video=False) as detector:
        face = detector.detect(image)
    if face is None:
        raise LivehumanError("no face found in the portrait photo")
    height, width = image.shape[:2]
    x0, y0, x1, y1 = face.box
    # the face (forehead to chin) takes about 40% of the portrait's height, never more than the photo allows
    side = min(width, height, max((y1 - y0) / 0.4, 1.0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(np.clip(cx - FACE_CENTRE[0] * side, 0, width - side)))
    top = int(round(np.clip(cy - FACE_CENTRE[1] * side, 0, height - side)))
    side = int(side)
    crop = image[top : top + side, left : left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def default_portrait() -> np.ndarray:
    """The default avatar's photo: Grace Hopper, 512x512, BGR uint8."""
    return portrait(cv2.imread(str(grace_hopper_path()), cv2.IMREAD_COLOR))


def default_avatar(cache_root: str | Path | None = None, progress: bool = False, force: bool = False) -> Avatar:
    """The avatar named "default", built from default_portrait() and cached on first use."""
    root = Path(cache_root) if cache_root else avatar_root()
    if not force and read_meta(root / DEFAULT_NAME) is not None:
        try:
            return read_avatar(root / DEFAULT_NAME)
        except LivehumanError:
            force = True  # from another version, or damaged: build it again
    photo = root / ".sources" / "default.png"
    with locked(root, ".default-photo"):
        if force or not photo.is_file():
            photo.parent.mkdir(parents=True, exist_ok=True)
            temp = photo.with_suffix(f".{os.getpid()}.png")
            cv2.imwrite(str(temp), default_portrait())
            temp.replace(photo)
    return prepare_avatar(photo, DEFAULT_NAME, cache_root=root, progress=progress, force=force)


def head_motion(n_frames: int, fps: float, size: tuple[int, int], amount: float = 1.0) -> np.ndarray:
    """(n, 2, 3) affine matrices of a slight, smooth, natural-looking head motion about the frame's
    centre: rotation within about 2 degrees, translation within about 2% of the frame, scale within 1.5%."""
    width, height = size
    t = np.arange(n_frames) / fps
    # sums of slow sines at unrelated frequencies never visibly repeat in a short clip
    angle = amount * (1.3 * np.sin(2 * math.pi * 0.23 * t) + 0.6 * np.sin(2 * math.pi * 0.51 * t + 1.0))
    dx = amount * width * (0.012 * np.sin(2 * math.pi * 0.17 * t + 0.3) + 0.005 * np.sin(2 * math.pi * 0.43 * t))
    dy = amount * height * (0.008 * np.sin(2 * math.pi * 0.29 * t + 2.0) + 0.004 * np.sin(2 * math.pi * 0.61 * t + 0.7))
    scale = 1.0 + amount * 0.012 * np.sin(2 * math.pi * 0.13 * t + 0.5)
    matrices = np.empty((n_frames, 2, 3), dtype=np.float64)
    for k in range(n_frames):
        matrices[k] = cv2.getRotationMatrix2D((width / 2, height / 2), float(angle[k]), float(scale[k]))
        matrices[k, :, 2] += (dx[k], dy[k])
    return matrices


def make_face_video(
    path: str | Path,
    seconds: float = 2.0,
    fps: float = 25.0,
    source_image: str | Path | np.ndarray | None = None,
    crf: int = 16,
) -> Path:
    """Write an H.264 MP4 of a real face with synthetic head motion (head_motion) for tests and benchmarks.

    The face and its texture are real (a photo, by default the default portrait); only the slight
    rotation, translation and scale are made up, so the mouth stays still throughout.
    """
    import av
    from fractions import Fraction

    if source_image is None:
        image = default_portrait()
    elif isinstance(source_image, np.ndarray):
        image = source_image
    else:
        image = cv2.imread(str(source_image), cv2.IMREAD_COLOR)
        if image is None:
            raise LivehumanError(f"cannot read image {source_image}")
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2  # H.264 4:2:0 needs even sides
    image = np.ascontiguousarray(image[:height, :width])
    n_frames = max(1, int(round(seconds * fps)))
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for matrix in head_motion(n_frames, fps, (width, height)):
            moved = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(moved, format="bgr24")))
        container.mux(stream.encode())
    return path
