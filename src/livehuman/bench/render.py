"""`livehuman bench render`: how fast the cpu engine alone and the whole batch render run, and what
encoding a live session's video costs."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

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
    the default photo, and from text by a video avatar; then the live video encoders."""
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
    results.update(bench_live_encoder(avatar))
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


@dataclass
class RoundTrip:
    """Frames sent through a live session's video encoder and decoded as a receiver decodes them."""

    luma: list[np.ndarray]  # each frame's brightness as received (float32)
    sent: list[bytes]  # each VP8 frame as sent
    encode_seconds: float  # the encoder's CPU time (this thread's)


def round_trip(encoder, images: list[np.ndarray], fps: int = 25, keyframe_at: int = -1) -> RoundTrip:
    """BGR `images` through `encoder` (an aiortc video Encoder), depacketized and decoded; a key frame
    asked for at frame `keyframe_at`, as a browser asks after a loss."""
    from aiortc.codecs.vpx import Vp8Decoder, vp8_depayload
    from aiortc.jitterbuffer import JitterFrame

    from livehuman.render.video_file import video_frame

    decoder, out = Vp8Decoder(), RoundTrip([], [], 0.0)
    for k, image in enumerate(images):
        frame = video_frame(image)
        frame.pts, frame.time_base = k, Fraction(1, fps)
        start = time.thread_time()
        payloads, timestamp = encoder.encode(frame, force_keyframe=k == keyframe_at)
        out.encode_seconds += time.thread_time() - start
        data = b"".join(vp8_depayload(payload) for payload in payloads)
        out.sent.append(data)
        for decoded in decoder.decode(JitterFrame(data=data, timestamp=timestamp)):
            out.luma.append(decoded.to_ndarray(format="gray").astype(np.float32))
    return out


def psnr(received: list[np.ndarray], images: list[np.ndarray]) -> float:
    """The mean PSNR (dB) of the received frames' brightness against the frames drawn."""
    from livehuman.render.video_file import video_frame

    drawn = [video_frame(image).to_ndarray(format="gray").astype(np.float32) for image in images]
    return float(np.mean([10 * np.log10(255**2 / max(float(((a - b) ** 2).mean()), 1e-6))
                          for a, b in zip(received, drawn)]))


def bench_live_encoder(avatar: Avatar, seconds: float = 4.0, runs: int = 3) -> dict:
    """The live server's VP8 encoding of the engine's frames (speech-like, with head motion, as a session
    draws them): aiortc's own encoder against the face's (live/video_encoder.py), CPU ms a frame (the
    median of `runs`, alternated) and PSNR as received, at aiortc's starting 500 kbit/s."""
    from aiortc.codecs.vpx import Vp8Encoder

    from livehuman.live.video_encoder import RenderedVp8Encoder
    from livehuman.motion.synthetic import speech_like_controls
    from livehuman.render.cpu.engine import CpuEngine
    from livehuman.render.engine import FrameDrive

    engine = CpuEngine(head_motion=True)
    engine.load(avatar)
    images = [engine.render(avatar, k, FrameDrive(speech_like_controls(k))) for k in range(int(seconds * avatar.fps))]
    encoders = {"aiortc's VP8 encoder": Vp8Encoder, "the face's VP8 encoder": RenderedVp8Encoder}
    trips: dict[str, list[RoundTrip]] = {label: [] for label in encoders}
    for _ in range(runs):  # alternated: a machine whose speed drifts counts against both
        for label, make in encoders.items():
            trips[label].append(round_trip(make(), images, round(avatar.fps)))
    results = {}
    for label, runs_of in trips.items():
        results[f"live video, {label}: cpu ms per frame"] = round(
            1000 * float(np.median([trip.encode_seconds for trip in runs_of])) / len(images), 2)
        results[f"live video, {label}: PSNR dB"] = round(psnr(runs_of[0].luma, images), 2)
    return results


def bench_render_from_args(args) -> dict:
    """`livehuman bench render [--seconds S]`."""
    return bench_render(from_args(RenderOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("render")
