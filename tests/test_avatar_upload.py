"""Uploaded files checked by their content (avatar/upload.py): fuzzed with hypothesis."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livehuman.avatar.upload import UploadError, UploadInfo, UploadLimits, check_upload

# Each example may decode an image and run the face mesh on it: fewer than the parsers' fuzz tests.
EXAMPLES = int(os.environ.get("LIVEHUMAN_FUZZ_EXAMPLES", "150")) // 5 or 1


def seeds(grace_hopper_path: Path) -> list[bytes]:
    """Real files to corrupt: a JPEG, a PNG and an MP4 of a face."""
    from livehuman.avatar.default import make_face_video

    image = cv2.resize(cv2.imread(str(grace_hopper_path)), (128, 150))
    folder = Path(tempfile.mkdtemp(prefix="upload-seeds-"))
    video = make_face_video(folder / "face.mp4", seconds=0.4, source_image=image, crf=40)
    return [cv2.imencode(".jpg", image)[1].tobytes(), cv2.imencode(".png", image)[1].tobytes(),
            Path(video).read_bytes()]


_SEEDS: list[bytes] = []


@pytest.fixture(scope="module")
def seed_files(grace_hopper_path):
    """The seeds, held in a list whose repr is short (hypothesis prints a failing test's arguments)."""
    _SEEDS[:] = seeds(grace_hopper_path)
    return Seeds()


class Seeds:
    def __len__(self):
        return len(_SEEDS)

    def __getitem__(self, index):
        return _SEEDS[index]

    def __repr__(self):
        return "<the JPEG, PNG and MP4 seeds>"


def check_bytes(data: bytes, folder: Path) -> UploadInfo | UploadError:
    path = folder / "upload"
    path.write_bytes(data)
    try:
        return check_upload(path, UploadLimits(video_seconds=5.0))
    except UploadError as exc:
        assert 400 <= exc.status < 500 and str(exc) and "\n" not in str(exc)
        return exc


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_bytes_are_an_upload_or_one_4xx(seed_files, tmp_path_factory, data):
    """Random bytes, and real files cut, overwritten in places or with bytes inserted: every one
    is taken as a photo or video, or refused with a 4xx; nothing else is raised."""
    folder = tmp_path_factory.mktemp("fuzz")
    kind = data.draw(st.sampled_from(["random", "cut", "overwrite", "insert"]))
    if kind == "random":
        body = data.draw(st.binary(min_size=0, max_size=4096))
    else:
        body = bytearray(seed_files[data.draw(st.integers(0, len(seed_files) - 1))])
        at = data.draw(st.integers(0, len(body) - 1))
        if kind == "cut":
            body = body[:at]
        elif kind == "overwrite":
            chunk = data.draw(st.binary(min_size=1, max_size=64))
            body[at:at + len(chunk)] = chunk
        else:
            body[at:at] = data.draw(st.binary(min_size=1, max_size=64))
        body = bytes(body)
    result = check_bytes(body, folder)
    assert isinstance(result, (UploadInfo, UploadError))


def test_the_seeds_themselves_are_taken(seed_files, tmp_path):
    kinds = [check_bytes(seed_files[i], tmp_path) for i in range(len(seed_files))]
    assert [k.kind if isinstance(k, UploadInfo) else str(k) for k in kinds] == ["photo", "photo", "video"]
