"""`livehuman bench render`: how fast the cpu engine alone and the whole batch render run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from livehuman.avatar.avatar import Avatar
from livehuman.bench.lipsync import SENTENCES
from livehuman.bench.options import RenderOptions, from_args

PASSAGE = " ".join(SENTENCES)


def speech_of_length(seconds: float):
    """espeak-ng speech at least `seconds` long (the benchmark passage, repeated)."""
    from livehuman.speech.espeak import EspeakTTS

    tts = EspeakTTS(voice="en-us")
    speech = tts.synthesize(PASSAGE)
    text = PASSAGE
    while speech.audio.duration < seconds:
        text += " " + PASSAGE
        speech = tts.synthesize(text)
    return speech


def bench_engine(avatar: Avatar, seconds: float = RenderOptions.seconds, head_motion: bool = True) -> dict:
    """The cpu engine alone: speech-like frames for `seconds` on one thread; fps and ms per frame, in
    wall-clock time and in the rendering thread's CPU time."""
    import cv2

    from livehuman.motion.controls import FaceControls
    from livehuman.motion.synthetic import speech_like_controls
    from livehuman.render.cpu.engine import CpuEngine
    from livehuman.render.engine import FrameDrive

    engine = CpuEngine(head_motion=head_motion)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        engine.load(avatar)
        for k in range(avatar.n_frames):  # first use of a frame builds its rig: not timed
            engine.render(avatar, k, FrameDrive(FaceControls()))
        frames = 0
        start, cpu_start = time.perf_counter(), time.thread_time()
        while True:
            engine.render(avatar, frames, FrameDrive(speech_like_controls(frames)))
            frames += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        # the thread's own CPU time: on a machine shared with other jobs, wall-clock time counts theirs too
        cpu = time.thread_time() - cpu_start
    finally:
        cv2.setNumThreads(threads)
    width, height = avatar.size
    return {
        "engine": engine.name,
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 1),
        "ms_per_frame": round(1000 * elapsed / frames, 3),
        "cpu_ms_per_frame": round(1000 * cpu / frames, 3),
        "fps_per_cpu_second": round(frames / max(cpu, 1e-9), 1),
        "size": f"{width}x{height}",
        "threads": 1,
    }


def bench_render(options: RenderOptions | None = None) -> dict:
    """Engine alone (one core), then whole renders from audio (with recognition) and from text, by
    the default photo, and from text by a video avatar."""
    import cv2

    from livehuman.avatar.cache import load_avatar
    from livehuman.render.batch import render_video
    from livehuman.render.engines import make_engine
    from livehuman.speech.audio import Speech, load_audio, save_wav

    seconds = (options or RenderOptions()).seconds
    cv2.setNumThreads(1)  # the target is per core: the live server runs one session per core
    avatar = load_avatar("default")
    results: dict = {"avatar": f"default ({avatar.size[0]}x{avatar.size[1]} photo)"}
    results.update({f"engine {k}": v for k, v in bench_engine(avatar, seconds=seconds).items()})

    speech = speech_of_length(seconds)
    engine = make_engine("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        save_wav(wav, speech.audio)
        t0 = time.perf_counter()
        audio_only = Speech(load_audio(wav))  # decoding counts: it is part of a user's render
        decode = time.perf_counter() - t0
        for label, given in (("audio", audio_only), ("text", speech)):
            result = render_video(avatar, engine, given, Path(tmp) / f"{label}.mp4", progress=False)
            total = result.motion_seconds + result.render_seconds + (decode if label == "audio" else 0.0)
            results[f"render from {label}: video seconds"] = result.duration
            results[f"render from {label}: motion seconds"] = result.motion_seconds
            results[f"render from {label}: fps"] = result.frames / total
            results[f"render from {label}: realtime factor"] = result.duration / total
        results.update(bench_video_avatar(speech, Path(tmp)))
    return results


def bench_video_avatar(speech, folder: Path, seconds: float = 4.0) -> dict:
    """A render from text by a video avatar (the default face moving its head for `seconds`): each
    source frame's rigs are built on its first use, then the video loops."""
    from livehuman.avatar.default import make_face_video
    from livehuman.avatar.prepare import prepare_avatar
    from livehuman.render.batch import render_video
    from livehuman.render.engines import make_engine

    video = make_face_video(folder / "face.mp4", seconds)
    avatar = prepare_avatar(video, "bench-video", cache_root=folder / "avatars", progress=False)
    result = render_video(avatar, make_engine("cpu"), speech, folder / "video.mp4", progress=False)
    return {
        "video avatar: source frames": avatar.n_frames,
        "video avatar: render from text, video seconds": result.duration,
        "video avatar: render from text, realtime factor": result.realtime_factor,
    }


def bench_render_from_args(args) -> dict:
    """`livehuman bench render [--seconds S]`."""
    return bench_render(from_args(RenderOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("render")
