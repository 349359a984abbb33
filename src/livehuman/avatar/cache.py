"""The avatar cache by name: a prepared avatar, a source path prepared on the fly, or "default".

The layers below it, none of which imports this one: store.py keeps avatars on disk, prepare.py
makes one from a source, default.py makes the default one. The store's reading and listing are
offered here too, so callers need one module.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.boxes import checked_face_boxes
from livehuman.avatar.default import DEFAULT_NAME, default_avatar
from livehuman.avatar.prepare import prepare_avatar
from livehuman.avatar.store import (
    NAME_PATTERN,
    CACHE_VERSION,
    avatar_root,
    list_avatars,
    read_avatar,
    read_meta,
)
from livehuman.errors import LivehumanError

__all__ = ["avatar_root", "list_avatars", "load_avatar", "read_avatar", "read_meta"]


def load_avatar(
    name_or_path: str | Path,
    fps: float | None = None,
    bbox_shift: int | None = None,
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> Avatar:
    """A prepared avatar by name, a source path (prepared on the fly and cached as its file stem plus a
    short hash of its path), or an avatar cache directory.

    fps and bbox_shift default to what a prepared avatar was prepared with (25 and 0 for a new one).
    Another fps prepares a video avatar again from its source; another bbox_shift recomputes the boxes
    in memory and leaves the cache as prepared. "default" is built on first use.
    """
    root = Path(cache_root) if cache_root else avatar_root()
    text = str(name_or_path)
    path = Path(text).expanduser()
    # a bare prepared name wins over a file or folder of the same name in the working directory
    if NAME_PATTERN.match(text) and (root / text / "meta.json").is_file():
        return _as_asked(_read_or_refresh(root / text, progress), fps, bbox_shift, root, progress)
    if path.is_dir() and (path / "meta.json").is_file():
        return _as_asked(_read_or_refresh(path, progress), fps, bbox_shift, root, progress)
    if path.exists():
        resolved = path.resolve()
        digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", resolved.stem if resolved.is_file() else resolved.name).strip("._-")
        name = f"{stem[:60] or 'avatar'}-{digest}"
        return prepare_avatar(
            resolved, name, fps=fps or 25.0, bbox_shift=bbox_shift or 0, cache_root=root, progress=progress
        )
    if text == DEFAULT_NAME:
        return _as_asked(default_avatar(cache_root=root, progress=progress), fps, bbox_shift, root, progress)
    names = list_avatars(root)
    known = f"prepared avatars: {', '.join(names)}" if names else f"no avatars are prepared yet in {root}"
    raise LivehumanError(
        f"unknown avatar {text!r} (not a prepared name nor an existing file or folder); {known}; "
        f"prepare one with: livehuman prepare --name NAME --source PHOTO_OR_VIDEO"
    )


def _read_or_refresh(directory: Path, progress: bool) -> Avatar:
    """read_avatar, preparing the avatar again from its source when its cache is from another version."""
    meta = read_meta(directory) or {}
    source = Path(meta.get("source", {}).get("path", ""))
    if meta.get("version") != CACHE_VERSION and meta.get("name") and source.exists():
        return prepare_avatar(
            source, meta["name"], fps=float(meta.get("fps", 25.0)), bbox_shift=int(meta.get("bbox_shift", 0)),
            cache_root=directory.parent, progress=progress, force=True,
        )
    return read_avatar(directory)


def _as_asked(avatar: Avatar, fps, bbox_shift, root: Path, progress: bool) -> Avatar:
    """The avatar at the asked fps (re-prepared from its source when a video's rate differs) and
    bbox_shift (boxes recomputed in memory: the prepared avatar on disk stays as it was prepared)."""
    if fps is not None and abs(fps - avatar.fps) > 1e-6:
        if avatar.kind != "video":
            avatar.fps = float(fps)  # a photo or an image folder gives one frame per output frame at any rate
        else:
            source = Path(read_meta(avatar.directory)["source"]["path"])
            if not source.exists():
                raise LivehumanError(
                    f"avatar {avatar.name!r} was prepared at {avatar.fps:g} fps and its source {source} is gone; "
                    f"render at --fps {avatar.fps:g} or prepare it again from a source"
                )
            avatar = prepare_avatar(
                source, avatar.name, fps=fps, bbox_shift=avatar.bbox_shift,
                cache_root=avatar.directory.parent, progress=progress,
            )
    if bbox_shift is not None and bbox_shift != avatar.bbox_shift:
        where = f"for avatar {avatar.name!r}"
        avatar.boxes = checked_face_boxes(avatar.landmarks, bbox_shift, avatar.size, where)
        avatar.bbox_shift = int(bbox_shift)
    return avatar
