"""Preparing an avatar: face mesh on every frame, cleaned up over time, boxed, and cached on disk."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.boxes import bbox_shift_range, checked_face_boxes
from livehuman.avatar.store import (
    CACHE_VERSION,
    avatar_root,
    check_name,
    locked,
    read_avatar,
    read_meta,
    rewrite_boxes,
    source_signature,
    write_avatar,
)
from livehuman.avatar.landmarks import FaceMeshDetector, eye_widths, face_width, inter_ocular
from livehuman.avatar.source import SourceReader, open_source
from livehuman.errors import LivehumanError

# Below this eye-to-eye distance (a face about 45 px wide) the mouth is a few pixels wide: nothing
# convincing can be drawn, and the avatar is refused.
MIN_INTER_OCULAR = 20.0
# Below this one (a face about 60 px wide) it is animated with a warning: measured with the face mesh
# on rendered frames, an open-smile face closed for P/B/M to 0.2-0.3 of an "ah" with its eyes 19-23 px
# apart, and to at most 0.14 from 27 px on (docs/avatars.md).
GOOD_INTER_OCULAR = 27.0
# Under this ratio of the eyes' widths (a head turned about 55 degrees or more) the far side of the
# mouth lies on the face's outline and tears when it moves: animated with a warning. Real photos
# turned 35-50 degrees (0.68-0.76) animate well; one turned nearly to profile (0.28) tore (docs/avatars.md).
GOOD_EYE_WIDTHS = 0.55
MAX_FACES = 4
# Frames without a detected face inside a video are filled in when the gap is at most this long;
# across a longer one (the person turned away, a cut) the longest stretch with a face is kept, if it
# lasts at least MIN_STRETCH_SECONDS (a shorter loop would play back and forth too fast to look alive).
MAX_GAP_SECONDS = 0.5
MIN_STRETCH_SECONDS = 1.0
# Detection runs on frames scaled down to this long side: the mesh model sees a 192 px face crop anyway.
DETECT_MAX_SIDE = 1280
# Savitzky-Golay filter over time (quadratic, centred): removes landmark jitter with no lag and keeps
# the peaks of real motion. On a face video with known motion, 7 frames cut the frame-to-frame jitter
# 4-fold; the lips get 5 frames (a 3 dB cut-off near 6 Hz at 25 fps) to keep fast speech movements.
SMOOTH_WINDOW = 7
LIPS_WINDOW = 5
# A jump of the median landmark by more than this many inter-ocular distances between two frames is a
# cut (or another person): smoothing does not cross it.
CUT_JUMP = 0.35


def prepare_avatar(
    source: str | Path,
    name: str,
    fps: float = 25.0,
    bbox_shift: int = 0,
    force: bool = False,
    cache_root: str | Path | None = None,
    progress: bool = True,
    on_frame: Callable[[int, int], None] | None = None,
    source_limits: dict | None = None,
) -> Avatar:
    """Prepare a photo, video or image folder as the avatar `name` and cache it, or reuse the cache
    when the same source (path, size, mtime) was prepared with the same settings (unless `force`).

    `on_frame(done, expected)` is called after each frame's face mesh (expected: the source's
    estimated frame count, 0 when unknown), for a progress display other than the terminal's.
    `source_limits`: open_source's max_side and max_bytes, when tighter than its defaults."""
    check_name(name)
    if isinstance(bbox_shift, float) and not bbox_shift.is_integer():
        raise LivehumanError(f"bbox_shift must be a whole number of pixels, not {bbox_shift}")
    bbox_shift = int(bbox_shift)
    reader = open_source(source, fps, **(source_limits or {}))
    fps = float(fps)
    root = Path(cache_root) if cache_root else avatar_root()
    with locked(root, name):
        return _prepare(reader, name, root / name, fps, bbox_shift, force, progress, on_frame)


def _prepare(reader: SourceReader, name: str, directory: Path, fps: float, bbox_shift: int, force: bool, progress: bool,
             on_frame: Callable[[int, int], None] | None = None) -> Avatar:
    signature = source_signature(reader.path)
    if not force:
        cached = _reuse(directory, signature, reader.kind, fps, bbox_shift)
        if cached is not None:
            return cached

    started = time.monotonic()
    frames, landmarks, faces_note = _detect(reader, name, progress, on_frame)
    notes = list(reader.notes) + ([faces_note] if faces_note else [])
    frames, landmarks, notes_fill = _fill_gaps(frames, landmarks, reader)
    notes += notes_fill
    eyes = float(np.median([inter_ocular(points) for points in landmarks]))
    if eyes < MIN_INTER_OCULAR:
        raise LivehumanError(
            f"the face in {reader.path} is too small to animate: its eyes are {eyes:.0f} px apart, at least "
            f"{MIN_INTER_OCULAR:.0f} px are needed; use a higher-resolution source or crop closer to the face"
        )
    if eyes < GOOD_INTER_OCULAR:
        notes.append(
            f"the face is small (eyes {eyes:.0f} px apart, about {np.median([face_width(p) for p in landmarks]):.0f} px across): lips may "
            f"not close fully; faces with eyes at least {GOOD_INTER_OCULAR:.0f} px apart animate well"
        )
    widths = float(np.median([eye_widths(points) for points in landmarks]))
    if widths < GOOD_EYE_WIDTHS:
        notes.append(
            f"the face is turned far to the side (its far eye looks {widths:.2f} as wide as the near one): the far "
            f"side of the mouth may tear as it moves; faces turned less than about 45 degrees animate well"
        )
    if reader.kind != "photo":
        landmarks = smooth_landmarks(landmarks)
    height, width = frames.shape[1:3]
    boxes = checked_face_boxes(landmarks, bbox_shift, (width, height), f"in {reader.path}")
    meta = {
        "name": name,
        "version": CACHE_VERSION,
        "source": signature,
        "kind": reader.kind,
        "fps": fps,
        "width": int(width),
        "height": int(height),
        "size": [int(width), int(height)],
        "n_frames": int(len(frames)),
        "bbox_shift": bbox_shift,
        "bbox_shift_range": list(bbox_shift_range(landmarks)),
        "inter_ocular": round(eyes, 1),
        "notes": notes,
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "prepare_seconds": round(time.monotonic() - started, 2),
    }
    for note in notes:
        print(f"livehuman: {note}", file=sys.stderr)
    write_avatar(directory, meta, frames, landmarks, boxes)
    return Avatar(
        name=name, directory=directory, fps=fps, kind=reader.kind,
        frames=frames, landmarks=landmarks, boxes=boxes, bbox_shift=bbox_shift,
    )


def smooth_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks filtered over time with a centred quadratic Savitzky-Golay filter, cut by cut."""
    import mediapipe as mp

    landmarks = np.asarray(landmarks, dtype=np.float32)
    n = len(landmarks)
    out = landmarks.copy()
    if n < 3:
        return out
    eyes = np.array([inter_ocular(points) for points in landmarks])
    moves = np.median(np.linalg.norm(np.diff(landmarks, axis=0), axis=-1), axis=-1)
    cuts = np.flatnonzero(moves > CUT_JUMP * np.minimum(eyes[1:], eyes[:-1])) + 1
    lips = sorted({i for edge in mp.solutions.face_mesh.FACEMESH_LIPS for i in edge})
    for start, stop in zip(np.r_[0, cuts], np.r_[cuts, n]):
        longest = (stop - start) if (stop - start) % 2 else (stop - start) - 1
        if min(SMOOTH_WINDOW, longest) >= 5:
            out[start:stop] = _savgol(landmarks[start:stop], min(SMOOTH_WINDOW, longest))
            out[start:stop, lips] = _savgol(landmarks[start:stop, lips], min(LIPS_WINDOW, longest))
    return out


def _savgol(x: np.ndarray, window: int) -> np.ndarray:
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    weights = np.linalg.pinv(np.vander(offsets, 3, increasing=True))[0]
    # odd reflection at the ends keeps a linear trend going instead of bending it towards the edge
    padded = np.concatenate([2 * x[:1] - x[half:0:-1], x, 2 * x[-1:] - x[-2 : -half - 2 : -1]])
    out = np.zeros_like(x, dtype=np.float64)
    for j, w in enumerate(weights):
        out += w * padded[j : j + len(x)]
    return out.astype(np.float32)


def _reuse(directory: Path, signature: dict, kind: str, fps: float, bbox_shift: int) -> Avatar | None:
    meta = read_meta(directory)
    if (
        meta is None
        or meta.get("version") != CACHE_VERSION
        or meta.get("source") != signature
        or meta.get("kind") != kind
        or (kind == "video" and abs(float(meta.get("fps", 0)) - fps) > 1e-6)
    ):
        return None
    try:
        avatar = read_avatar(directory)
    except LivehumanError:
        return None  # a damaged cache is simply prepared again
    if avatar.bbox_shift != bbox_shift:
        # only the boxes depend on bbox_shift: no need to run the face mesh again
        avatar.boxes = checked_face_boxes(avatar.landmarks, bbox_shift, avatar.size, f"in {signature['path']}")
        avatar.bbox_shift = bbox_shift
        rewrite_boxes(directory, {**meta, "bbox_shift": bbox_shift}, avatar.boxes)
    avatar.fps = fps
    return avatar


def _detect(reader: SourceReader, name: str, progress: bool,
            on_frame: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Frames and their landmarks (NaN where no face was found), and a note when several faces were seen."""
    from tqdm import tqdm

    frames = _FrameBuffer(reader.expected_frames)
    points: list[np.ndarray | None] = []
    note = None
    previous = None
    bar = tqdm(
        total=reader.expected_frames or None, desc=f"preparing {name}", unit="frame",
        file=sys.stderr, disable=not progress or reader.kind == "photo", dynamic_ncols=True,
        leave=False,  # on a terminal the bar goes away at the end, leaving the CLI's summary or error
    )
    # a video is tracked from frame to frame (faster and steadier); a folder may be a video's frames
    with bar, FaceMeshDetector(video=reader.kind != "photo", max_faces=MAX_FACES) as detector:
        for frame in _prefetched(reader):
            small, scale = _for_detection(frame)
            # a photo is searched for every face, however small, to take the largest of a group
            thorough = reader.kind == "photo" or previous is None
            faces = [pts / scale for pts in detector.detect_all(small, thorough)]
            chosen = None
            if faces:
                if previous is None:
                    chosen = faces[0]
                else:
                    # stay with the same person while they are visible, even when another face grows larger
                    centre = previous.mean(0)
                    chosen = min(faces, key=lambda pts: float(np.linalg.norm(pts.mean(0) - centre)))
                previous = chosen
                if len(faces) > 1 and note is None:
                    note = _faces_note(faces, chosen, frame.shape[1], len(frames), reader)
            frames.append(frame)
            points.append(chosen)
            bar.update()
            if on_frame is not None:
                on_frame(len(frames), reader.expected_frames)
        if bar.total != len(frames):
            bar.total = len(frames)
            bar.refresh()
    if not frames:
        raise LivehumanError(f"no frames in {reader.path}")
    if all(p is None for p in points):
        what = "photo" if reader.kind == "photo" else f"{len(frames)} frames"
        raise LivehumanError(
            f"no face found in {reader.path} ({what}); use a source where one face is clearly visible, "
            f"roughly frontal and not too small"
        )
    missing = np.full((478, 2), np.nan, dtype=np.float32)
    landmarks = np.stack([missing if p is None else p for p in points]).astype(np.float32)
    return frames.array(), landmarks, note


class _FrameBuffer:
    """Frames gathered straight into one array (a list then np.stack would need twice the memory)."""

    def __init__(self, expected: int):
        self._expected = max(expected, 1)
        self._array: np.ndarray | None = None
        self._n = 0

    def append(self, frame: np.ndarray) -> None:
        if self._array is None:
            self._array = np.empty((self._expected, *frame.shape), dtype=frame.dtype)
        elif self._n == len(self._array):
            grown = np.empty((len(self._array) + max(16, len(self._array) // 4), *frame.shape), dtype=frame.dtype)
            grown[: self._n] = self._array
            self._array = grown
        self._array[self._n] = frame
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def array(self) -> np.ndarray:
        used = self._array[: self._n]
        # far fewer frames than the header promised: do not keep the unused memory
        return used.copy() if self._n < 0.9 * len(self._array) else used


def _prefetched(frames, depth: int = 16):
    """Iterate `frames` on a second thread so decoding overlaps the face mesh (both release the GIL)."""
    import queue
    import threading

    done = object()
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                items.put(frame)
        except BaseException as exc:  # handed to the consumer, raised there
            items.put(exc)
            return
        items.put(done)

    thread = threading.Thread(target=produce, name="avatar-decode", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def _for_detection(frame: np.ndarray) -> tuple[np.ndarray, float]:
    long_side = max(frame.shape[:2])
    if long_side <= DETECT_MAX_SIDE:
        return frame, 1.0
    scale = DETECT_MAX_SIDE / long_side
    size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


def _faces_note(faces: list[np.ndarray], chosen: np.ndarray, width: int, index: int, reader: SourceReader) -> str:
    x0, y0 = chosen.min(0)
    x1, y1 = chosen.max(0)
    centre = (x0 + x1) / 2
    where = "on the left" if centre < width / 3 else "on the right" if centre > 2 * width / 3 else "in the middle"
    largest = "the largest" if chosen is faces[0] else "the one tracked from the start"
    when = "" if reader.kind == "photo" else (
        f" at {index / reader.fps:.2f} s" if reader.kind == "video" else f" in image {index + 1}"
    )
    return (
        f"{len(faces)} faces visible{when}; using {largest}, {where} "
        f"(x {x0:.0f}-{x1:.0f}, y {y0:.0f}-{y1:.0f})"
    )


def _fill_gaps(frames: np.ndarray, landmarks: np.ndarray, reader: SourceReader):
    """Keep the longest stretch of frames with a face (the ends without one trimmed, gaps inside it
    no longer than MAX_GAP_SECONDS interpolated); say what was left out."""
    notes = []
    found = ~np.isnan(landmarks[:, 0, 0])
    stretches = _face_stretches(found, max(1, round(MAX_GAP_SECONDS * reader.fps)))
    start, stop = max(stretches, key=lambda stretch: stretch[1] - stretch[0])  # (the first of equals)
    if len(stretches) > 1:
        gaps = ", ".join(_frames_where(reader, a, b) for (_, a), (b, _) in zip(stretches, stretches[1:]))
        if stop - start < MIN_STRETCH_SECONDS * reader.fps:
            raise LivehumanError(
                f"no face found in {reader.path} {gaps} (more than {MAX_GAP_SECONDS:g} s), and no stretch with a "
                f"face lasts {MIN_STRETCH_SECONDS:g} s; use a source where the face stays in view"
            )
        notes.append(
            f"no face {gaps} (more than {MAX_GAP_SECONDS:g} s): only the longest stretch with a face is used, "
            f"{_frames_where(reader, start, stop)} ({stop - start} frames); cut the source to choose another"
        )
    elif start > 0 or stop < len(found):
        ends = [f"the first {start}" if start else "", f"the last {len(found) - stop}" if stop < len(found) else ""]
        notes.append(f"no face in {' and '.join(e for e in ends if e)} frames; those frames are left out")
    frames, landmarks, found = frames[start:stop], landmarks[start:stop].copy(), found[start:stop]
    filled = 0
    index = 0
    while index < len(found):
        if found[index]:
            index += 1
            continue
        gap_end = index
        while not found[gap_end]:
            gap_end += 1
        before, after = landmarks[index - 1], landmarks[gap_end]
        for k in range(gap_end - index):
            weight = (k + 1) / (gap_end - index + 1)
            landmarks[index + k] = (1 - weight) * before + weight * after
        filled += gap_end - index
        index = gap_end
    if filled:
        notes.append(f"no face detected in {filled} frames; their landmarks were interpolated")
    return frames, landmarks, notes


def _face_stretches(found: np.ndarray, longest_gap: int) -> list[tuple[int, int]]:
    """The (start, stop) frame ranges that begin and end with a face and hold no gap without one
    longer than `longest_gap` frames, in order."""
    stretches: list[tuple[int, int]] = []
    for index in np.flatnonzero(found):
        if stretches and index - stretches[-1][1] <= longest_gap:
            stretches[-1] = (stretches[-1][0], index + 1)
        else:
            stretches.append((index, index + 1))
    return [(int(a), int(b)) for a, b in stretches]


def _frames_where(reader: SourceReader, start: int, stop: int) -> str:
    """Frames start to stop - 1, as a user finds them in the source."""
    if reader.kind == "video":
        return f"from {start / reader.fps:.2f} s to {stop / reader.fps:.2f} s"
    return f"in images {start + 1} to {stop}"
