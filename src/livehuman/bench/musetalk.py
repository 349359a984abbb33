"""`livehuman bench musetalk`: frames per second per batch size, stage times, memory, first-frame latency."""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import grace_hopper_path
from livehuman.avatar.photo import photo_avatar
from livehuman.bench.options import MuseTalkOptions, from_args
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.rates import FPS, LISTEN_RATE
from livehuman.render.engine import FrameDrive
from livehuman.render.musetalk.audio import AUDIO_AFTER, clip_windows


def save_landmarks(path: str | Path, image: str | Path | None = None) -> Path:
    """Detect the benchmark portrait's landmarks here (mediapipe) and save them for a machine without it."""
    with tempfile.TemporaryDirectory() as tmp:
        avatar = photo_avatar(image or grace_hopper_path(), tmp)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, avatar.landmarks[0])
    return path


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """A voice-like test signal (a gliding harmonic tone with a syllable-rate envelope), never silent."""
    t = np.arange(int(seconds * LISTEN_RATE)) / LISTEN_RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / LISTEN_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.35 + 0.25 * np.sin(2 * np.pi * 4 * t)
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.2 * tone * envelope + noise).astype(np.float32)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def _first_frame_after_audio(engine, avatar: Avatar, audio: np.ndarray, paced: bool) -> float:
    """Milliseconds from the first audio sample's arrival to frame 0 being rendered, audio streamed
    in 20 ms chunks: at real-time pace (a live microphone or a slow brain) or all at once (a TTS
    that runs ahead of real time)."""
    from livehuman.render.musetalk.audio import AudioStream

    stream = AudioStream()
    chunk = LISTEN_RATE // 50
    t0 = time.perf_counter()
    for k, pos in enumerate(range(0, len(audio), chunk)):
        if paced:
            time.sleep(max(0.0, t0 + k * 0.02 - time.perf_counter()))
        ready = stream.push(audio[pos : pos + chunk])
        if ready:
            index, window = ready[0]
            engine.render(avatar, index, FrameDrive(FaceControls(), window))
            _sync(engine.models.device)
            return (time.perf_counter() - t0) * 1000
    raise LivehumanError("the benchmark's audio was too short for one frame")


def _concurrent(engine, avatar: Avatar, drives: list[FrameDrive], sessions: int, frames: int) -> dict:
    """`sessions` threads each rendering `frames` frames one at a time through the shared engine, as
    live sessions do: total frames per second and how the scheduler batched them."""
    import threading

    engine.scheduler.reset_stats()
    barrier = threading.Barrier(sessions)
    errors: list[BaseException] = []

    def session(k: int) -> None:
        try:
            barrier.wait()
            for i in range(frames):
                engine.render(avatar, i, drives[(k * 7 + i) % len(drives)])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _sync(engine.models.device)
    total = time.perf_counter() - t0
    if errors:
        raise errors[0]
    sizes = engine.batch_sizes
    n_batches = sum(sizes.values())
    return {
        "sessions": sessions,
        "fps": round(sessions * frames / total, 2),
        "fps_per_session": round(frames / total, 2),
        "mean_batch": round(sum(b * c for b, c in sizes.items()) / max(n_batches, 1), 2),
        "batch_sizes": {str(b): c for b, c in sizes.items()},
    }


def bench_musetalk(options: MuseTalkOptions | None = None) -> dict:
    """Time the musetalk engine; with no `models`, random weights in MuseTalk's layout: tiny ones
    (the pipeline's cost without the real networks' arithmetic) or, with `full_size`, the real
    networks' shapes (the real weights' cost, without their faces). Returns a JSON-ready dict.

    Per batch size: frames per second through `render_batch`, and the audio features, UNet, VAE
    decode and blend apart, with the peak GPU memory. `sessions` adds rows for that many threads
    sharing the engine as live sessions do. The first frame is timed cold, warm, and from the first
    audio sample (streamed at real-time pace, and all at once)."""
    import torch

    from livehuman.render.musetalk.engine import MuseTalkEngine
    from livehuman.render.musetalk.tiny import write_tiny_models

    o = options or MuseTalkOptions()
    batch_sizes = o.batch_sizes
    with tempfile.TemporaryDirectory(prefix="livehuman-bench-musetalk-") as tmp:
        tmp = Path(tmp)
        weights = "user" if o.models is not None else "full-size-random" if o.full_size else "tiny-random"
        models_dir = o.models if o.models is not None else write_tiny_models(tmp / "models", full_size=o.full_size)
        t0 = time.perf_counter()
        engine = MuseTalkEngine(models_dir, device=o.device, dtype=o.dtype, batch_size=max(batch_sizes),
                                compile=o.compile)
        m = engine.models
        dev = m.device
        _sync(dev)
        load_s = time.perf_counter() - t0
        weights_mib = _mib(torch.cuda.memory_allocated(dev)) if dev.type == "cuda" else None
        avatar = photo_avatar(o.image or grace_hopper_path(), tmp / "avatar", landmarks=o.landmarks)
        t0 = time.perf_counter()
        engine.load(avatar)
        prepare_s = time.perf_counter() - t0
        prepared = avatar.extra[engine.name]
        audio = _voiced(max(batch_sizes) / FPS + 1.0)
        windows = clip_windows(audio)
        drives = [FrameDrive(FaceControls(), w) for w in windows]

        # First frame: the first render call after loading (cold kernels), then a warm one.
        t0 = time.perf_counter()
        engine.render(avatar, 0, drives[0])
        _sync(dev)
        first_cold_ms = (time.perf_counter() - t0) * 1000
        # Compiling (when asked) and the device's first call at every benchmarked size, apart.
        t0 = time.perf_counter()
        engine.warm_up(batch_sizes)
        _sync(dev)
        warm_up_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.render(avatar, 1, drives[1])
        _sync(dev)
        first_warm_ms = (time.perf_counter() - t0) * 1000
        after_audio = {}
        if o.latency:
            after_audio = {
                "first_frame_after_audio_ms": round(_first_frame_after_audio(engine, avatar, audio, paced=True), 1),
                "first_frame_after_audio_burst_ms": round(_first_frame_after_audio(engine, avatar, audio, False), 1),
            }

        results = []
        for b in batch_sizes:
            engine.batch_size = b
            idx = list(range(b))
            engine.render_batch(avatar, idx, drives[:b])  # warm-up at this shape
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            stage = {"features": 0.0, "unet": 0.0, "vae": 0.0, "blend": 0.0}
            t_all = time.perf_counter()
            for _ in range(o.repeats):
                engine.render_batch(avatar, idx, drives[:b])
            _sync(dev)
            total = time.perf_counter() - t_all
            for _ in range(o.repeats):  # the same work again, stage by stage
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
                "fps": round(b * o.repeats / total, 2),
                "batch_ms": round(total / o.repeats * 1000, 2),
                **{f"{k}_ms": round(v / o.repeats * 1000, 2) for k, v in stage.items()},
                "unet_fps": round(b * o.repeats / stage["unet"], 2),
                "vae_fps": round(b * o.repeats / stage["vae"], 2),
            }
            if dev.type == "cuda":
                row["gpu_peak_mib"] = _mib(torch.cuda.max_memory_allocated(dev))
            results.append(row)

        engine.batch_size = max(batch_sizes)
        shared = [_concurrent(engine, avatar, drives, n, o.session_frames) for n in o.sessions]

    gpu = {}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        gpu = {"gpu_total_mib": _mib(props.total_memory), "gpu_weights_mib": weights_mib,
               "gpu_peak_mib": _mib(torch.cuda.max_memory_allocated(dev)), "cuda": torch.version.cuda}
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return {
        "engine": "musetalk",
        "weights": weights,
        "version": engine.version,
        "device": device_name,
        "dtype": str(m.dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "compile": engine.compiled or False,
        "compile_note": engine.compile_note,
        **gpu,
        "load_s": round(load_s, 2),
        "prepare_avatar_s": round(prepare_s, 2),
        "warm_up_s": round(warm_up_s, 2),
        "lookahead_ms": AUDIO_AFTER * 1000,
        "first_frame_cold_ms": round(first_cold_ms, 1),
        "first_frame_ms": round(first_warm_ms, 1),
        **after_audio,
        "batches": results,
        "shared": shared,
    }


def format_bench(result: dict) -> str:
    """The benchmark as a short human-readable table."""
    compiled = f", torch.compile ({result['compile']})" if result["compile"] else ""
    lines = [
        f"musetalk {result['version']} ({result['weights']} weights) on {result['device']}, {result['dtype']}{compiled}",
        f"load {result['load_s']} s, avatar preparation {result['prepare_avatar_s']} s, warm-up {result['warm_up_s']} s",
        f"first frame {result['first_frame_ms']} ms warm ({result['first_frame_cold_ms']} ms cold)",
    ]
    if "first_frame_after_audio_ms" in result:
        lines.append(
            f"first frame after the first audio: {result['first_frame_after_audio_ms']} ms streamed in real time "
            f"(the look-ahead is {result['lookahead_ms']:.0f} ms), {result['first_frame_after_audio_burst_ms']} ms "
            f"when the audio arrives at once")
    if result.get("compile_note"):
        lines.append(f"note: {result['compile_note']}")
    lines.append("batch    fps   batch_ms  features_ms  unet_ms  vae_ms  blend_ms  gpu_MiB")
    for r in result["batches"]:
        lines.append(
            f"{r['batch_size']:>5} {r['fps']:>6} {r['batch_ms']:>10} {r['features_ms']:>12} {r['unet_ms']:>8}"
            f" {r['vae_ms']:>7} {r['blend_ms']:>9} {r.get('gpu_peak_mib', '-'):>8}"
        )
    for r in result.get("shared", []):
        lines.append(f"{r['sessions']} sessions sharing the engine: {r['fps']} fps in all "
                     f"({r['fps_per_session']} each), mean batch {r['mean_batch']}")
    return "\n".join(lines)


def flatten(result: dict) -> dict:
    """The benchmark as flat key -> value pairs (one line each in the CLI): batch rows become
    `batch8_fps`, `batch8_unet_ms`, ...; shared-engine rows `sessions4_fps`, ..."""
    flat = {k: v for k, v in result.items() if k not in ("batches", "shared")}
    for row in result["batches"]:
        b = row["batch_size"]
        flat.update({f"batch{b}_{k}": v for k, v in row.items() if k != "batch_size"})
    for row in result.get("shared", []):
        n = row["sessions"]
        flat.update({f"sessions{n}_{k}": v for k, v in row.items() if k not in ("sessions", "batch_sizes")})
    return flat


def bench_musetalk_from_args(args) -> dict:
    """`livehuman bench musetalk [--models DIR | --full-size] [--device D] [--dtype T] [--compile]
    [--batch-sizes 1,4,8,16] [--sessions 4,8] [--json]`: random weights when no DIR is given."""
    return flatten(bench_musetalk(from_args(MuseTalkOptions, args)))


# What a GPU session runs (`python -m livehuman.bench.musetalk`): more sessions, frames and repeats
# than the CLI's quick run, eagerly and then with torch.compile.
GPU_RUN = MuseTalkOptions(sessions=(1, 4, 8), session_frames=50, repeats=5)


def main(argv: list[str] | None = None) -> int:
    """`python -m livehuman.bench.musetalk --models DIR [--out FILE.json]`: the figures issue 5
    asks for on a GPU, eager and then with torch.compile, each with the device's name, as JSON lines."""
    import argparse
    import json
    import platform

    g = GPU_RUN
    parser = argparse.ArgumentParser(prog="python -m livehuman.bench.musetalk", description=main.__doc__)
    parser.add_argument("--models", metavar="DIR", help="MuseTalk's models/ directory (random weights if absent)")
    parser.add_argument("--full-size", action="store_true",
                        help="without --models: random weights of the real networks' sizes (else tiny ones)")
    parser.add_argument("--device", help=f"default {g.device}")
    parser.add_argument("--dtype", help="float16 (CUDA's default), bfloat16 or float32")
    parser.add_argument("--batch-sizes", help=f"default {','.join(map(str, g.batch_sizes))}")
    parser.add_argument("--sessions", help=f"threads sharing the engine, as live sessions (default "
                                           f"{','.join(map(str, g.sessions))})")
    parser.add_argument("--session-frames", type=int, help=f"frames each shared-engine thread renders "
                                                           f"(default {g.session_frames})")
    parser.add_argument("--repeats", type=int, help=f"default {g.repeats}")
    parser.add_argument("--compile", choices=("no", "yes", "both"), default="both",
                        help="torch.compile the UNet and VAE decoder: no, yes, or both runs (default)")
    parser.add_argument("--out", metavar="FILE", help="append each run's JSON as one line to FILE")
    parser.add_argument("--landmarks", metavar="NPY", help="the portrait's landmarks saved by --save-landmarks "
                        "(for a machine without mediapipe)")
    parser.add_argument("--save-landmarks", metavar="NPY", help="detect the portrait's landmarks, save them, exit")
    args = parser.parse_args(argv)
    if args.save_landmarks:
        print(save_landmarks(args.save_landmarks))
        return 0
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("compile", "out", "save_landmarks")}
    for compiled in {"no": [False], "yes": [True], "both": [False, True]}[args.compile]:
        result = bench_musetalk(replace(g, **given, compile=compiled))
        result["host"] = platform.node()
        result["date"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        print(format_bench(result), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
