"""How prepared avatars are stored on disk: where they live, how one is written atomically, read
back and listed. It knows nothing of preparing one (prepare.py) or finding one by name (cache.py).

Layout of one avatar, `<root>/<name>/`:
  meta.json       name, source (path, mtime, size), kind, fps, size, n_frames, bbox_shift, version, notes
  landmarks.npy   (n, 478, 2) float32, smoothed face-mesh points in pixels
  boxes.npy       (n, 4) float32 MuseTalk-style crop boxes for meta's bbox_shift
  frames.npy      (n, h, w, 3) uint8 BGR, when the frames take at most FRAMES_NPY_MAX_BYTES;
  frames/         otherwise one JPEG (quality 95) per frame, 000000.jpg, 000001.jpg, ...
  <engine>/       what each render engine prepares for itself (Avatar.engine_dir); removed whenever
                  the landmarks or boxes change (a new prepare, another bbox_shift)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.source import image_files
from livehuman.errors import LivehumanError

CACHE_VERSION = 1
# Lossless and the fastest to load; above this size (about 3 s of 512x512 at 25 fps) JPEG q95
# (PSNR about 42 dB) keeps the cache 8 times smaller and loads 250 frames of 512x512 in 0.3 s.
FRAMES_NPY_MAX_BYTES = 64 << 20
JPEG_QUALITY = 95
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def avatar_root() -> Path:
    """$LIVEHUMAN_HOME/avatars, or ~/.cache/livehuman/avatars."""
    home = os.environ.get("LIVEHUMAN_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "livehuman"
    return base / "avatars"


def check_name(name: str) -> str:
    """An avatar name is a folder name: letters, digits, '.', '_' and '-', not starting with '.'."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise LivehumanError(
            f"invalid avatar name {name!r}: use letters, digits, '.', '_' and '-' (at most 100, not starting with '.' or '-')"
        )
    return name


def list_avatars(cache_root: str | Path | None = None) -> list[str]:
    """Names of the prepared avatars, sorted."""
    root = Path(cache_root) if cache_root else avatar_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if NAME_PATTERN.match(p.name) and (p / "meta.json").is_file())


@contextmanager
def locked(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on one avatar name across processes, so that two renders or servers
    preparing the same avatar at once do the work once and never see each other's half-written files."""
    locks = Path(root) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def source_signature(path: Path) -> dict:
    """What identifies a source's content cheaply: its absolute path, size and modification time
    (for a folder, a digest over its images' names, sizes and times)."""
    path = path.expanduser().resolve()
    if path.is_dir():
        digest = hashlib.sha1()
        files = image_files(path)
        for file in files:
            stat = file.stat()
            digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return {"path": str(path), "files": len(files), "digest": digest.hexdigest()}
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_meta(directory: Path) -> dict | None:
    """An avatar directory's meta.json, or None when it is missing or unreadable."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def write_avatar(directory: Path, meta: dict, frames: np.ndarray, landmarks: np.ndarray, boxes: np.ndarray) -> None:
    """Write a whole avatar into a temporary folder beside `directory`, then rename it into place,
    so a reader never sees half an avatar and an interrupted prepare leaves the old one intact."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        os.chmod(temp, 0o755)  # mkdtemp makes it private; an avatar folder is an ordinary one
        np.save(temp / "landmarks.npy", landmarks.astype(np.float32))
        np.save(temp / "boxes.npy", boxes.astype(np.float32))
        if frames.nbytes <= FRAMES_NPY_MAX_BYTES:
            np.save(temp / "frames.npy", frames)
            meta = {**meta, "frames_format": "npy"}
        else:
            (temp / "frames").mkdir()
            _write_jpegs(temp / "frames", frames)
            meta = {**meta, "frames_format": "jpg"}
        (temp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, old / "avatar")
        os.replace(temp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def rewrite_boxes(directory: Path, meta: dict, boxes: np.ndarray) -> None:
    """Replace an avatar's boxes and meta.json in place (each file atomically), e.g. for a new bbox_shift;
    what engines prepared from the old boxes is removed."""
    for engine_dir in directory.iterdir():
        if engine_dir.is_dir() and engine_dir.name != "frames":
            shutil.rmtree(engine_dir, ignore_errors=True)
    for name, write in (
        ("boxes.npy", lambda f: np.save(f, boxes.astype(np.float32))),
        ("meta.json", lambda f: f.write((json.dumps(meta, indent=2) + "\n").encode())),
    ):
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(temp, directory / name)


def read_avatar(directory: str | Path) -> Avatar:
    """Load an avatar from its cache directory."""
    directory = Path(directory).expanduser()
    meta = read_meta(directory)
    if meta is None:
        raise LivehumanError(f"{directory} is not a prepared avatar (no readable meta.json)")
    if meta.get("version") != CACHE_VERSION:
        raise LivehumanError(
            f"avatar {directory} was prepared by another livehuman version; prepare it again with --force"
        )

    def damaged(why: str) -> LivehumanError:
        return LivehumanError(f"avatar cache {directory} is damaged ({why}); prepare it again with --force")

    try:
        landmarks = np.load(directory / "landmarks.npy")
        boxes = np.load(directory / "boxes.npy")
        if meta.get("frames_format") == "jpg":
            frames = _read_jpegs(directory / "frames", meta["n_frames"])
        else:
            frames = np.load(directory / "frames.npy")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise damaged(f"{type(exc).__name__} {exc}") from None
    try:
        if not (len(frames) == len(landmarks) == len(boxes) == meta["n_frames"]):
            raise damaged("frame counts differ")
        return Avatar(name=str(meta["name"]), directory=directory, fps=float(meta["fps"]), kind=str(meta["kind"]),
                      frames=frames, landmarks=landmarks, boxes=boxes, bbox_shift=int(meta["bbox_shift"]))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a meta.json edited by hand
        raise damaged(f"meta.json: {type(exc).__name__} {exc}") from None


def _write_jpegs(folder: Path, frames: np.ndarray) -> None:
    def write(index: int) -> None:
        ok, data = cv2.imencode(".jpg", frames[index], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise LivehumanError(f"cannot encode frame {index} as JPEG")
        (folder / f"{index:06d}.jpg").write_bytes(data.tobytes())

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(write, range(len(frames))))


def _read_jpegs(folder: Path, n: int) -> np.ndarray:
    first = cv2.imread(str(folder / "000000.jpg"), cv2.IMREAD_COLOR)
    if first is None:
        raise OSError(f"cannot read {folder / '000000.jpg'}")
    frames = np.empty((n, *first.shape), dtype=np.uint8)
    frames[0] = first

    def read(index: int) -> None:
        image = cv2.imread(str(folder / f"{index:06d}.jpg"), cv2.IMREAD_COLOR)
        if image is None or image.shape != first.shape:
            raise OSError(f"cannot read frame {index}")
        frames[index] = image

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(read, range(1, n)))
    return frames
