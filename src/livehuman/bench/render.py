"""`livehuman bench render`: how fast the cpu engine and the whole batch render run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from livehuman.bench.lipsync import SENTENCES

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


def bench_render(args) -> dict:
    """Engine alone (one core), then whole renders from audio (with recognition) and from text."""
    import cv2

    from livehuman.avatar.cache import load_avatar
    from livehuman.render.batch import render_video
    from livehuman.render.cpu.bench import bench_engine
    from livehuman.render.engines import make_engine
    from livehuman.speech.audio import Speech, load_audio, save_wav

    cv2.setNumThreads(1)  # the target is per core: the live server runs one session per core
    avatar = load_avatar("default")
    results: dict = {"avatar": f"default ({avatar.size[0]}x{avatar.size[1]} photo)"}
    results.update({f"engine {k}": v for k, v in bench_engine(avatar, seconds=args.seconds).items()})

    speech = speech_of_length(args.seconds)
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
    return results
