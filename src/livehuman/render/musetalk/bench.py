"""`livehuman bench musetalk`: frames per second per batch size, stage times, memory, first-frame latency."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import grace_hopper_path
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.render.engine import AUDIO_RATE, FrameDrive
from livehuman.render.musetalk.audio import AUDIO_AFTER, clip_windows


def photo_avatar(image: str | Path, directory: str | Path, fps: float = 25.0) -> Avatar:
    """A one-frame avatar from a photo, with face-mesh landmarks (enough for engines and benchmarks)."""
    import cv2

    from livehuman.avatar.landmarks import FaceMeshDetector

    frame = cv2.imread(str(image))
    if frame is None:
        raise LivehumanError(f"cannot read the image {image}")
    with FaceMeshDetector() as detector:
        face = detector.detect(frame)
    if face is None:
        raise LivehumanError(f"no face found in {image}")
    return Avatar(Path(image).stem, Path(directory), fps, "photo", frame[None], face.points[None], face.box[None])


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """A voice-like test signal (a gliding harmonic tone with a syllable-rate envelope), never silent."""
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.35 + 0.25 * np.sin(2 * np.pi * 4 * t)
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.2 * tone * envelope + noise).astype(np.float32)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_musetalk(models_dir: str | Path | None = None, batch_sizes=(1, 4, 8, 16), device: str = "auto",
                   dtype=None, repeats: int = 3, image: str | Path | None = None, compile: bool = False) -> dict:
    """Time the musetalk engine; with no `models_dir`, tiny random weights in MuseTalk's layout
    (the pipeline's cost without the real networks' arithmetic). Returns a JSON-ready dict."""
    import torch

    from livehuman.render.musetalk.engine import MuseTalkEngine
    from livehuman.render.musetalk.tiny import write_tiny_models

    with tempfile.TemporaryDirectory(prefix="livehuman-bench-musetalk-") as tmp:
        tmp = Path(tmp)
        weights = "user" if models_dir is not None else "tiny-random"
        if models_dir is None:
            models_dir = write_tiny_models(tmp / "models")
        t0 = time.perf_counter()
        engine = MuseTalkEngine(models_dir, device=device, dtype=dtype, batch_size=max(batch_sizes), compile=compile)
        m = engine.models
        load_s = time.perf_counter() - t0
        avatar = photo_avatar(image or grace_hopper_path(), tmp / "avatar")
        t0 = time.perf_counter()
        engine.load(avatar)
        prepare_s = time.perf_counter() - t0
        prepared = avatar.extra[engine.name]
        windows = clip_windows(_voiced(max(batch_sizes) / 25 + 1.0))
        drives = [FrameDrive(FaceControls(), w) for w in windows]
        dev = m.device

        # First frame: the first render call after loading (cold kernels), then a warm one.
        t0 = time.perf_counter()
        engine.render(avatar, 0, drives[0])
        _sync(dev)
        first_cold_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        engine.render(avatar, 1, drives[1])
        _sync(dev)
        first_warm_ms = (time.perf_counter() - t0) * 1000

        results = []
        for b in batch_sizes:
            engine.batch_size = b
            idx = list(range(b))
            engine.render_batch(avatar, idx, drives[:b])  # warm-up at this shape
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            stage = {"features": 0.0, "unet": 0.0, "vae": 0.0, "blend": 0.0}
            t_all = time.perf_counter()
            for _ in range(repeats):
                engine.render_batch(avatar, idx, drives[:b])
            _sync(dev)
            total = time.perf_counter() - t_all
            for _ in range(repeats):  # the same work again, stage by stage
                t = time.perf_counter()
                tokens = engine.features(windows[:b])
                _sync(dev)
                stage["features"] += time.perf_counter() - t
                t = time.perf_counter()
                pred = engine.unet_step(prepared.latents[engine.on_device(np.zeros(b, np.int64))], tokens)
                _sync(dev)
                stage["unet"] += time.perf_counter() - t
                t = time.perf_counter()
                faces = engine.decode(pred).cpu().numpy()
                stage["vae"] += time.perf_counter() - t
                t = time.perf_counter()
                for face in faces:
                    engine.blend(avatar.frames[0], face, prepared.boxes[0], prepared.masks[0], 1.0)
                stage["blend"] += time.perf_counter() - t
            row = {
                "batch_size": b,
                "fps": round(b * repeats / total, 2),
                "batch_ms": round(total / repeats * 1000, 2),
                **{f"{k}_ms": round(v / repeats * 1000, 2) for k, v in stage.items()},
            }
            if dev.type == "cuda":
                row["gpu_peak_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
            results.append(row)

    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return {
        "engine": "musetalk",
        "weights": weights,
        "version": engine.version,
        "device": device_name,
        "dtype": str(m.dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "compile": compile,
        "load_s": round(load_s, 2),
        "prepare_avatar_s": round(prepare_s, 2),
        "lookahead_ms": AUDIO_AFTER * 1000,
        "first_frame_cold_ms": round(first_cold_ms, 1),
        "first_frame_ms": round(first_warm_ms, 1),
        # A live frame can start once its look-ahead audio has arrived: latency from the first audio.
        "first_frame_after_audio_ms": round(AUDIO_AFTER * 1000 + 20 + first_warm_ms, 1),
        "batches": results,
    }


def format_bench(result: dict) -> str:
    """The benchmark as a short human-readable table."""
    lines = [
        f"musetalk {result['version']} ({result['weights']} weights) on {result['device']}, {result['dtype']}",
        f"load {result['load_s']} s, avatar preparation {result['prepare_avatar_s']} s",
        f"first frame {result['first_frame_ms']} ms warm ({result['first_frame_cold_ms']} ms cold); "
        f"with the {result['lookahead_ms']:.0f} ms look-ahead: {result['first_frame_after_audio_ms']} ms after the first audio",
        "batch    fps   batch_ms  features_ms  unet_ms  vae_ms  blend_ms  gpu_MiB",
    ]
    for r in result["batches"]:
        lines.append(
            f"{r['batch_size']:>5} {r['fps']:>6} {r['batch_ms']:>10} {r['features_ms']:>12} {r['unet_ms']:>8}"
            f" {r['vae_ms']:>7} {r['blend_ms']:>9} {r.get('gpu_peak_mib', '-'):>8}"
        )
    return "\n".join(lines)


def flatten(result: dict) -> dict:
    """The benchmark as flat key -> value pairs (one line each in the CLI): batch rows become
    `batch8_fps`, `batch8_unet_ms`, ..."""
    flat = {k: v for k, v in result.items() if k != "batches"}
    for row in result["batches"]:
        b = row["batch_size"]
        flat.update({f"batch{b}_{k}": v for k, v in row.items() if k != "batch_size"})
    return flat


def bench_musetalk_from_args(args) -> dict:
    """`livehuman bench musetalk [--models DIR] [--json]`: tiny random weights when no DIR is given."""
    return flatten(bench_musetalk(
        getattr(args, "models", None),
        device=getattr(args, "device", None) or "auto",
        compile=bool(getattr(args, "compile", False)),
    ))
