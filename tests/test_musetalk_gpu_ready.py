"""The musetalk engine's GPU options, checked on the CPU: half-precision dtypes, torch.compile (and its
fallback when it cannot compile) and warm-up. (The benchmark a GPU session runs: test_bench_musetalk.py.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers_musetalk import drives_for, espeak_16k, loud_frames

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.photo import photo_avatar
from livehuman.errors import LivehumanError
from livehuman.render.musetalk import MuseTalkEngine
from livehuman.render.musetalk.audio import clip_windows
from livehuman.render.musetalk.compiling import bucket

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hopper(tmp_path_factory, grace_hopper_path) -> Avatar:
    return photo_avatar(grace_hopper_path, tmp_path_factory.mktemp("hopper"))


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Three loud frames of real speech: (indices, drives)."""
    speech = espeak_16k("Papa made a map of the moon.", tmp_path_factory.mktemp("speech"))
    indices = loud_frames(speech, 3)
    return indices, drives_for(clip_windows(speech)[indices])


@pytest.fixture(scope="module")
def reference(models_dir, hopper, job) -> list[np.ndarray]:
    """The frames in float32, eagerly: what every option must reproduce."""
    return MuseTalkEngine(models_dir, device="cpu").render_batch(fresh(hopper), *job)


def fresh(avatar: Avatar) -> Avatar:
    """The same avatar without what engines cached in it."""
    return Avatar(avatar.name, avatar.directory, avatar.fps, avatar.kind, avatar.frames, avatar.landmarks,
                  avatar.boxes)


def differences(frames, reference) -> tuple[int, float]:
    """Largest and mean absolute difference over the pixels the engine changed."""
    a, b = np.stack(frames).astype(int), np.stack(reference).astype(int)
    return int(np.abs(a - b).max()), float(np.abs(a - b).mean())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_runs_the_networks_in_that_dtype(models_dir, hopper, job, reference, dtype):
    engine = MuseTalkEngine(models_dir, device="cpu", dtype=dtype)
    m = engine.models
    want = getattr(torch, dtype)
    assert m.dtype == want
    assert {p.dtype for net in (m.unet, m.vae, m.whisper) for p in net.parameters()} == {want}
    avatar = fresh(hopper)
    frames = engine.render_batch(avatar, *job)
    assert avatar.extra["musetalk"].latents.dtype == want
    largest, mean = differences(frames, reference)
    print(f"{dtype} vs float32: largest difference {largest}, mean {mean:.4f} grey levels")
    assert 0 < largest <= 24 and mean < 0.1  # the same faces, give or take the rounding


def test_the_default_dtype_is_float32_on_the_cpu(models_dir):
    assert MuseTalkEngine(models_dir, device="cpu").dtype == torch.float32


def test_compile_without_a_compiler_falls_back_with_a_clear_message(models_dir, hopper, job, reference,
                                                                  monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++, clang++ or c++ to be found
    monkeypatch.delenv("CXX", raising=False)
    with caplog.at_level(logging.WARNING):
        engine = MuseTalkEngine(models_dir, device="cpu", compile=True)
        assert engine.compiled is None
    assert "C++ compiler" in engine.compile_note and "eagerly" in engine.compile_note
    assert any("C++ compiler" in r.getMessage() for r in caplog.records)
    # Nothing was compiled nor padded: the reference's own eager code on the same batch, pixel for pixel.
    assert differences(engine.render_batch(fresh(hopper), *job), reference)[0] == 0


@pytest.mark.slow
def test_a_compiler_that_fails_falls_back_to_eager(models_dir, hopper, job, reference, caplog):
    from torch._dynamo import register_backend

    @register_backend(name="livehuman_test_broken")
    def broken(graph, example_inputs):  # a compiler that cannot build this graph, as a real one may fail
        raise RuntimeError("cannot build this graph")

    engine = MuseTalkEngine(models_dir, device="cpu", compile="livehuman_test_broken")
    with caplog.at_level(logging.WARNING):
        frames = engine.render_batch(fresh(hopper), *job)
    # Each network runs eagerly from then on, and said so once, with the compiler's own reason.
    assert engine.compiled is None and "cannot build this graph" in engine.compile_note
    assert "UNet" in engine.compile_note
    warnings = [r.getMessage() for r in caplog.records if "running it eagerly" in r.getMessage()]
    assert [w.split(" failed")[0] for w in warnings] == [
        "torch.compile (livehuman_test_broken) of the UNet", "torch.compile (livehuman_test_broken) of the VAE decoder"]
    assert all("cannot build this graph" in w for w in warnings)
    assert len(frames) == len(job[0])
    # The same faces: the first batch had been padded to a compiled size before the compiler failed,
    # and a batch of another size may round differently (by one grey level on an AMD EPYC).
    largest, mean = differences(frames, reference)
    assert largest <= 2 and mean < 0.01, (largest, mean)


@pytest.mark.slow
def test_compiled_networks_give_the_same_frames_in_padded_batches(models_dir, hopper, job, reference):
    """torch.compile through dynamo (its `eager` backend: no C compiler, so it runs anywhere); a batch of
    three runs as a compiled batch of four, and a lone frame as a batch of one."""
    engine = MuseTalkEngine(models_dir, device="cpu", compile="eager", batch_size=4)
    assert engine.compiled == "eager"
    frames = engine.render_batch(fresh(hopper), *job)
    assert engine.compiled == "eager" and engine.compile_note == ""
    assert differences(frames, reference)[0] <= 1
    assert [bucket(n) for n in (1, 2, 3, 4, 5, 9, 16)] == [1, 2, 4, 4, 8, 16, 16]
    engine.warm_up([1])  # compiles the batch of one before the first live frame needs it
    one = engine.render(fresh(hopper), job[0][0], job[1][0])
    assert int(np.abs(one.astype(int) - reference[0]).max()) <= 1


@pytest.mark.slow
def test_inductor_compiles_on_the_cpu(models_dir, hopper, job, reference):
    """torch.compile's own backend, for real (about a minute of compiling C++ with g++ on 2 cores)."""
    engine = MuseTalkEngine(models_dir, device="cpu", compile=True, batch_size=4)
    frames = engine.render_batch(fresh(hopper), *job)
    assert engine.compiled == "inductor", engine.compile_note
    assert differences(frames, reference)[0] <= 2


def test_full_size_random_weights_have_musetalks_shapes():
    """The benchmark's stand-in for the real weights (when they cannot be had) is MuseTalk 1.5's UNet:
    about 850 M parameters, 8 input channels, whisper-tiny's width; counted without allocating it."""
    from diffusers import UNet2DConditionModel

    from livehuman.render.musetalk.tiny import full_unet_config

    config = full_unet_config()
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config)
    assert 840e6 < sum(p.numel() for p in unet.parameters()) < 860e6
    assert (config["in_channels"], config["out_channels"], config["cross_attention_dim"]) == (8, 4, 384)
    assert config["block_out_channels"] == [320, 640, 1280, 1280]


def test_bad_options_are_livehuman_errors(models_dir):
    with pytest.raises(LivehumanError, match="torch.compile backend"):
        MuseTalkEngine(models_dir, device="cpu", compile="no-such-compiler")
    with pytest.raises(LivehumanError, match="batch wait"):
        MuseTalkEngine(models_dir, device="cpu", batch_wait=-1)
