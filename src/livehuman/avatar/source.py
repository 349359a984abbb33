"""Reading an avatar's source: a photo, a video (resampled to the output rate) or a folder of images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from livehuman.errors import LivehumanError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Frames larger than this on their long side are scaled down: the face mesh gains nothing from more
# pixels, and every frame of an avatar is held in memory while rendering.
MAX_SIDE = 1920
# An avatar's frames live in memory as one array; longer sources are cut (a video avatar plays
# forward then backward on a loop, so a few seconds of good footage are enough).
MAX_SECONDS = 120.0
MAX_BYTES = 4 << 30
# FFmpeg "plays" any text file as ANSI art; that is never a face.
NOT_VIDEO_FORMATS = {"tty"}
NOT_VIDEO_CODECS = {"ansi", "bintext", "xbin", "idf"}


@dataclass
class SourceReader:
    """An opened source: its kind, an estimate of its frame count, and its frames (BGR uint8) on
    iteration, at `fps` for a video. `notes` collects what was changed on the way (scaling, cuts)."""

    path: Path
    kind: str  # "photo", "video" or "images"
    fps: float
    expected_frames: int
    notes: list[str] = field(default_factory=list)
    max_side: int = MAX_SIDE  # frames larger on their long side are scaled down to it
    max_bytes: int = MAX_BYTES  # frames beyond this much memory (and MAX_SECONDS) are left out
    _files: list[Path] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.kind == "photo":
            yield self._read(self.path)
            return
        frames = self._iter_images() if self.kind == "images" else self._iter_video()
        limit = None
        for index, image in enumerate(frames):
            limit = limit or max(1, min(int(MAX_SECONDS * self.fps), self.max_bytes // image.nbytes))
            if index >= limit:
                self._note(
                    f"only the first {limit} frames ({limit / self.fps:.1f} s) are used: an avatar's frames "
                    f"are held in memory (at most {MAX_SECONDS:.0f} s or {self.max_bytes / (1 << 30):g} GiB); "
                    f"trim the source to its best seconds"
                )
                frames.close()
                return
            yield image

    def read(self) -> np.ndarray:
        """All frames as one (n, height, width, 3) array."""
        return np.stack(list(self))

    def _read(self, path: Path) -> np.ndarray:
        image, transparent = _read_image(path)
        if transparent:
            self._note("the image's transparent pixels are shown over white (video has no transparency)")
        return self._limit_size(image)

    def _limit_size(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = self.max_side / max(height, width)
        if scale >= 1:
            return image
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        self._note(f"frames of {width}x{height} scaled down to {size[0]}x{size[1]} (at most {self.max_side} px on the long side)")
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _iter_images(self) -> Iterator[np.ndarray]:
        first_size = None
        for file in self._files:
            image = self._read(file)
            if first_size is None:
                first_size = (image.shape[1], image.shape[0], file.name)
            elif (image.shape[1], image.shape[0]) != first_size[:2]:
                raise LivehumanError(
                    f"images in {self.path} differ in size: {first_size[2]} is {first_size[0]}x{first_size[1]} "
                    f"but {file.name} is {image.shape[1]}x{image.shape[0]}; an image folder is a video's "
                    f"frames and they must all have one size"
                )
            yield image

    def _iter_video(self) -> Iterator[np.ndarray]:
        import av

        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise LivehumanError(f"cannot read {self.path} as a video: {exc}") from None
        with container:
            stream = _video_streams(container)[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or self.fps)
            step = 1.0 / self.fps
            emitted = 0
            first_time = None
            previous = None  # [time, av frame, converted array or None]

            def convert(entry):
                if entry[2] is None:
                    entry[2] = self._convert(entry[1])
                return entry[2]

            try:
                for index, frame in enumerate(container.decode(stream)):
                    time = frame.time if frame.time is not None else index / rate
                    if first_time is None:
                        first_time = time
                    time -= first_time
                    if previous is not None:
                        # each output time takes the source frame nearest to it
                        middle = (previous[0] + time) / 2
                        while emitted * step <= middle:
                            yield convert(previous)
                            emitted += 1
                    previous = [time, frame, None]
            except av.FFmpegError as exc:
                if previous is None:
                    raise LivehumanError(
                        f"cannot decode any frame of the video in {self.path}: the file is damaged ({exc})"
                    ) from None
                self._note(f"the video stops decoding after {previous[0]:.2f} s ({exc}); using what came before")
            if previous is None:
                raise LivehumanError(f"{self.path} holds a video stream with no frames")
            end = previous[0] + 1.0 / rate
            while emitted == 0 or emitted * step < end - 1e-6:
                yield convert(previous)
                emitted += 1
            if emitted < 0.9 * self.expected_frames:
                self._note(
                    f"the video's frames end at {end:.2f} s though its header says "
                    f"{self.expected_frames / self.fps:.2f} s; the file may be cut short"
                )

    def _convert(self, frame) -> np.ndarray:
        image = frame.to_ndarray(format="bgr24")
        # phone videos are often stored sideways with a rotation in their display matrix
        rotation = round(getattr(frame, "rotation", 0) or 0) % 360
        if rotation == 90:
            image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
        elif rotation == 180:
            image = cv2.rotate(image, cv2.ROTATE_180)
        elif rotation == 270:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        return self._limit_size(np.ascontiguousarray(image))


def open_source(path: str | Path, fps: float = 25.0, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> SourceReader:
    """Open a photo, a video or an image folder; raises LivehumanError when it cannot be used.
    Frames are scaled down to `max_side` and at most `max_bytes` of them are read."""
    if not fps or not (0 < fps <= 120):
        raise LivehumanError(f"fps must be between 0 and 120, not {fps}")
    path = Path(path).expanduser()
    if not path.exists():
        raise LivehumanError(f"avatar source not found: {path}")
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise LivehumanError(
                f"no images in folder {path} (looked for {', '.join(e[1:] for e in IMAGE_EXTENSIONS)})"
            )
        return SourceReader(path, "images", fps, len(files), max_side=max_side, max_bytes=max_bytes, _files=files)
    if not path.is_file():
        raise LivehumanError(f"avatar source is not a file or a folder: {path}")
    if path.stat().st_size == 0:
        raise LivehumanError(f"avatar source is empty (0 bytes): {path}")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return SourceReader(path, "photo", fps, 1, max_side=max_side, max_bytes=max_bytes)
    return SourceReader(path, "video", fps, _probe_video(path, fps), max_side=max_side, max_bytes=max_bytes)


def read_source(path: str | Path, fps: float = 25.0) -> tuple[str, np.ndarray, list[str]]:
    """(kind, frames, notes) of a source, all frames in memory."""
    reader = open_source(path, fps)
    frames = reader.read()
    return reader.kind, frames, reader.notes


def image_files(folder: Path) -> list[Path]:
    """The images in a folder, sorted by name with numbers in natural order (frame2 before frame10)."""
    files = [
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _read_image(path: Path) -> tuple[np.ndarray, bool]:
    """The image (BGR uint8, turned upright by its EXIF orientation), and whether it had transparent
    pixels: a cut-out portrait's background, shown over white (its hidden colour is often black)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # OpenCV refuses images past its pixel limit (a 40000x40000 PNG fits in 200 kB)
        raise LivehumanError(f"cannot read image {path}: it has too many pixels to decode; scale it down") from None
    if image is None:
        raise LivehumanError(f"cannot read image {path}: the file is damaged or not an image")
    opacity = _opacity(data, image.shape[:2])
    if opacity is None:
        return image, False
    return np.round(image * opacity + 255 * (1 - opacity)).astype(np.uint8), True


def _opacity(data: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Each pixel's opacity (0 to 1, (h, w, 1)) where the image has an alpha channel and a pixel not
    fully opaque; else None."""
    if data[:2].tobytes() == b"\xff\xd8":  # a JPEG, most photos: no alpha, and not decoded twice
        return None
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    # (IMREAD_UNCHANGED ignores EXIF orientation: an alpha of another shape is not this image's)
    if raw is None or raw.ndim != 3 or raw.shape[2] != 4 or raw.shape[:2] != shape:
        return None
    alpha = raw[..., 3:]
    opaque = np.iinfo(alpha.dtype).max
    if alpha.min() == opaque:
        return None
    return alpha.astype(np.float32) / opaque


def _video_streams(container) -> list:
    """The container's video streams, leaving out cover art (an MP3's album picture is a "video" stream)."""
    import av

    return [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]


def _probe_video(path: Path, fps: float) -> int:
    """Opens the file with PyAV to check it holds a video; returns the expected output frame count."""
    import av

    try:
        with av.open(str(path)) as container:
            videos = _video_streams(container)
            if not videos:
                what = "an audio file" if container.streams.audio else "a file with no video"
                raise LivehumanError(f"{path} is {what}, not a photo, video or image folder")
            stream = videos[0]
            if container.format.name in NOT_VIDEO_FORMATS or stream.codec_context.name in NOT_VIDEO_CODECS:
                raise av.InvalidDataError(0, "text, not a video")
            seconds = None
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / 1e6
            elif stream.frames and stream.average_rate:
                seconds = stream.frames / float(stream.average_rate)
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        raise LivehumanError(
            f"cannot read {path}: not a photo ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}), "
            f"a video or an image folder"
        ) from None
    return max(1, round(seconds * fps)) if seconds else 0
