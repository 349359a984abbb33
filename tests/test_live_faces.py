"""The live server's face parts: one engine for every session, each engine's options reaching it."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.live.server import default_face_factories
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.engine import FrameDrive
from livehuman.render.engines import make_engine
from livehuman.render.pool import PooledEngine


def test_cpu_sessions_share_one_render_pool():
    face = default_face_factories("default", render_workers=1)
    try:
        first, second = face.engine_factory(), face.engine_factory()
        assert isinstance(first, PooledEngine) and first is second
        assert face.resources == [first.pool]
        frame = first.render(face.avatar, 0, FrameDrive(FaceControls(jaw=1.0)))
        np.testing.assert_array_equal(frame, CpuEngine().render(face.avatar, 0, FrameDrive(FaceControls(jaw=1.0))))
    finally:
        for resource in face.resources:
            resource.close()


def test_without_render_workers_sessions_draw_in_process():
    face = default_face_factories("default", render_workers=0)
    engine = face.engine_factory()
    assert isinstance(engine, CpuEngine) and engine is face.engine_factory()
    assert face.resources == []


def test_musetalk_is_loaded_once_for_every_session_with_the_options_given(models_dir):
    import torch

    face = default_face_factories("default", engine="musetalk", models_dir=str(models_dir),
                                  engine_options={"device": "cpu", "dtype": "bfloat16", "batch_size": 3,
                                                  "compile": False})
    engine = face.engine_factory()
    assert engine is face.engine_factory()
    assert engine.dtype == torch.bfloat16 and engine.batch_size == 3
    frame = engine.render(face.avatar, 0, FrameDrive(FaceControls()))  # loaded: no file to read
    assert frame.shape == face.avatar.frames.shape[1:]


def test_musetalk_options_are_refused_for_the_cpu_engine():
    with pytest.raises(LivehumanError, match="--dtype, --batch-size: for --engine musetalk only"):
        make_engine("cpu", dtype="float16", batch_size=4)
    with pytest.raises(LivehumanError, match="--compile"):
        default_face_factories("default", engine_options={"compile": True})
