"""Checking an uploaded photo or video by its content before it is prepared as an avatar.

An upload is whatever bytes a client sent: its name and type are never trusted. It is a photo when
FFmpeg's probe (PyAV) reads it as one still image in a format OpenCV decodes (JPEG, PNG, WebP,
BMP, TIFF), a video when it holds a video stream of known length; then its size, dimensions and
length are checked against `UploadLimits`, and a face must be found by the face mesh that
preparing uses (on the photo, or on a video's first seconds). Each refusal is an `UploadError`
with an HTTP status and one line for the person who sent it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError

# What `livehuman serve` accepts by default (docs/operations.md, "Uploaded avatars").
PHOTO_MAX_BYTES = 10 << 20
VIDEO_MAX_BYTES = 50 << 20
VIDEO_MAX_SECONDS = 30.0
MAX_KEPT = 20  # prepared uploads kept; the oldest is removed when one more is ready
# An avatar's frames live in the server's memory while sessions use it: an uploaded video's are
# scaled to at most 1280 px on the long side and cut at 512 MiB (512x512: 26 s at 25 fps; 1280x720:
# 7.5 s; a video avatar plays its seconds forward then backward, so a few are enough).
FRAMES_MAX_SIDE = 1280
FRAMES_MAX_BYTES = 512 << 20
# A photo's pixels are decoded only when its header is within this (a 10 MB PNG can claim 100,000
# px a side: gigabytes once decoded). 40 Mpx is more than any phone camera gives.
MAX_PIXELS = 40_000_000
MAX_VIDEO_SIDE = 4096
MIN_SIDE = 64  # a face needs its eyes 20 px apart; nothing under 64 px a side holds one
# A video must show a face within its first seconds (sampled at this rate): preparing leaves out
# faceless frames at the start, but a video with no face early on is most likely the wrong one.
FACE_SEARCH_SECONDS = 3.0
FACE_SEARCH_FPS = 2.0

UPLOAD_PREFIX = "upload-"
UPLOAD_NAME = re.compile(r"^upload-[0-9a-f]{12}$")
# FFmpeg's codecs for still images that OpenCV also decodes, and the file suffix each is kept under.
PHOTO_CODECS = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif"}
VIDEO_SUFFIXES = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".webm", "avi": ".avi"}


STALL_S = 30.0  # the one upload being received holds the only place: a stalled one must not keep it


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may be, and how many prepared uploads are kept."""

    photo_bytes: int = PHOTO_MAX_BYTES
    video_bytes: int = VIDEO_MAX_BYTES
    video_seconds: float = VIDEO_MAX_SECONDS
    max_kept: int = MAX_KEPT
    frames_max_side: int = FRAMES_MAX_SIDE
    frames_max_bytes: int = FRAMES_MAX_BYTES
    stall_s: float = STALL_S  # an upload that sends nothing for this long is given up on (408)

    @property
    def source_limits(self) -> dict:
        """How much of an upload is used once accepted (prepare_avatar's source_limits)."""
        return {"max_side": self.frames_max_side, "max_bytes": self.frames_max_bytes}

    @property
    def body_bytes(self) -> int:
        """The largest body worth reading: the larger of the two size limits."""
        return max(self.photo_bytes, self.video_bytes)


class UploadError(LivehumanError):
    """An upload refused, with the HTTP status to answer (400, 408, 413 or 415) and why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadInfo:
    """What an accepted upload is: "photo" or "video", the suffix to keep it under, its size."""

    kind: str
    suffix: str
    width: int
    height: int
    seconds: float = 0.0


def megabytes(n: int) -> str:
    return f"{n / (1 << 20):g} MB"


def check_upload(path: str | Path, limits: UploadLimits = UploadLimits()) -> UploadInfo:
    """Read an uploaded file by its content; returns what it is or raises UploadError."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise UploadError("the upload is empty: send a photo or a short video of a face")
    info = _probe(path, limits)
    if info.kind == "photo" and size > limits.photo_bytes:
        raise UploadError(f"the photo is {megabytes(size)}; photos may be at most {megabytes(limits.photo_bytes)}", 413)
    if info.kind == "video" and size > limits.video_bytes:
        raise UploadError(f"the video is {megabytes(size)}; videos may be at most {megabytes(limits.video_bytes)}", 413)
    if min(info.width, info.height) < MIN_SIDE:
        raise UploadError(f"the {info.kind} is {info.width}x{info.height}: too small to hold a face that can be "
                          f"animated (at least {MIN_SIDE} px a side)")
    frames = _sample_frames(path, info)
    if not _face_found(frames, info.kind):
        where = "in the photo" if info.kind == "photo" else f"in the video's first {FACE_SEARCH_SECONDS:g} s"
        raise UploadError(f"no face found {where}: use one where a face is clearly visible, roughly frontal "
                          f"and not too small", 422)
    return info


def _probe(path: Path, limits: UploadLimits) -> UploadInfo:
    import av

    from livehuman.avatar.source import NOT_VIDEO_CODECS, NOT_VIDEO_FORMATS, _video_streams

    not_media = UploadError("the upload is not a photo or a video (JPEG, PNG, WebP, BMP or TIFF; "
                            "MP4, WebM, MOV or another common video)", 415)
    try:
        with av.open(str(path)) as container:
            streams = _video_streams(container)
            if not streams:
                raise not_media
            stream = streams[0]
            if stream.codec_context is None:  # a stream FFmpeg has no decoder for, or a cut header
                raise not_media
            codec = stream.codec_context.name
            form = container.format.name
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            if form in NOT_VIDEO_FORMATS or codec in NOT_VIDEO_CODECS or not width or not height:
                raise not_media
            if (form == "image2" or form.endswith("_pipe")) and codec in PHOTO_CODECS:
                if width * height > MAX_PIXELS:
                    raise UploadError(f"the photo is {width}x{height}: at most {MAX_PIXELS // 1_000_000} megapixels "
                                      f"are taken", 413)
                return UploadInfo("photo", PHOTO_CODECS[codec], width, height)
            if form == "image2" or form.endswith("_pipe") or form == "gif":
                raise UploadError(f"{codec.upper()} images are not taken: send a JPEG, PNG, WebP, BMP or TIFF photo", 415)
            seconds = None
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / 1e6
    except UploadError:
        raise
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        raise not_media from None
    if max(width, height) > MAX_VIDEO_SIDE:
        raise UploadError(f"the video is {width}x{height}: at most {MAX_VIDEO_SIDE} px a side are taken", 413)
    if not seconds:
        raise UploadError("the video does not say how long it is; save it again as MP4 or WebM")
    if seconds > limits.video_seconds + 0.05:
        raise UploadError(f"the video is {seconds:.1f} s long; videos may be at most {limits.video_seconds:g} s "
                          f"(a few good seconds are enough: the avatar plays them back and forth)", 413)
    return UploadInfo("video", VIDEO_SUFFIXES.get(form, ".video"), width, height, seconds)


def _sample_frames(path: Path, info: UploadInfo) -> list[np.ndarray]:
    """The photo, or a video's frames over its first seconds; refused when they do not decode."""
    import cv2

    if info.kind == "photo":
        image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise UploadError("the photo cannot be decoded: the file is damaged", 415)
        return [image]
    from livehuman.avatar.source import SourceReader

    reader = SourceReader(path, "video", FACE_SEARCH_FPS, 0)
    frames = []
    try:
        for frame in reader:
            frames.append(frame)
            if len(frames) >= FACE_SEARCH_SECONDS * FACE_SEARCH_FPS:
                break
    except LivehumanError:
        raise UploadError("the video cannot be decoded: the file is damaged", 415) from None
    if not frames:
        raise UploadError("the video holds no frames", 415)
    return frames


def _face_found(frames: list[np.ndarray], kind: str) -> bool:
    """Whether the face mesh, as preparing runs it, finds a face in any of the frames."""
    from livehuman.avatar.landmarks import FaceMeshDetector
    from livehuman.avatar.prepare import _for_detection

    with FaceMeshDetector(video=False, max_faces=4) as detector:
        for frame in frames:
            small, _ = _for_detection(frame)
            if detector.detect_all(small, True):
                return True
    return False
