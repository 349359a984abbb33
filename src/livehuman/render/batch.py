"""Batch rendering: speech and an avatar in, a lip-synced MP4 out.

This is the live path with a file as its transport and no pacing: the same motion stage and the
same engines, driven frame by frame as fast as they go.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livehuman.avatar.avatar import Avatar
from livehuman.motion.idle import life_seed
from livehuman.motion.audio_mouth import audio_mouth_controls, heard_frames, loudness, speech_energy
from livehuman.motion.closures import AUTO
from livehuman.motion.compose import compose
from livehuman.motion.controls import FaceControls, frame_count
from livehuman.motion.expression import expression_track
from livehuman.motion.lipsync import mouth_controls
from livehuman.motion.recognize import PhonesBeside
from livehuman.motion.stream import IdleMotion, with_emphasis
from livehuman.motion.voice_kind import voice_kind_in
from livehuman.rates import LISTEN_RATE
from livehuman.render.engine import Engine, FrameDrive
from livehuman.render.video_file import Mp4Writer
from livehuman.speech.audio import Audio, Speech, resample

ENCODE_AHEAD = 8  # frames the engine may run ahead of the encoder (bounds memory)


@dataclass
class RenderResult:
    """What a render produced and how long each part took."""

    path: Path
    frames: int
    duration: float  # seconds of video (and of audio: they are the same)
    motion_seconds: float  # phone recognition or timing rules, expression and idle motion (and the engine's loading)
    render_seconds: float  # the engine and the encoder, frame by frame
    audio_from: str  # "phones" (exact timings from the TTS) or "audio" (recognized)
    voice: str | None = None  # the kind of voice audio without phones was heard as (motion/closures.py)

    @property
    def realtime_factor(self) -> float:
        """Seconds of video made per second of work."""
        return self.duration / max(self.motion_seconds + self.render_seconds, 1e-9)


def speech_controls(speech: Speech, fps: float, head_motion: bool = True, seed: int = 0,
                    emotion: tuple[str, float] | None = None, voice: str = AUTO) -> list[FaceControls]:
    """Per-frame controls for speech: exact phone timings when known, else recognized from audio;
    merged with the idle life frame by frame as the live renderer merges them (motion.compose).
    `emotion` (name, strength) is eased in from the first frame and held to the end; `voice` is the
    kind of voice the audio is heard as when there are no phones (motion/closures.py; AUTO, the
    default: guessed from the sound, motion/voice_kind.py)."""
    return speech_motion(speech, fps, head_motion, seed, emotion, voice)[0]


def speech_motion(speech: Speech, fps: float, head_motion: bool = True, seed: int = 0,
                  emotion: tuple[str, float] | None = None, voice: str = AUTO,
                  recognized: PhonesBeside | None = None) -> tuple[list[FaceControls], str | None]:
    """`speech_controls`, and the kind of voice the audio was heard as (None: it had phones).
    `recognized`: the phones of audio without any, already being recognized (else started here)."""
    n = max(1, frame_count(speech.audio.duration, fps))
    if speech.phones:
        energy = speech_energy(speech.audio, fps)  # the same loudness measure as the live path
        mouths = mouth_controls(speech.phones, n / fps, fps, energy=energy)
        voice = None
    else:
        # The phones are recognized in a child process while this one hears the sound.
        recognized = recognized or PhonesBeside(speech.audio)
        with recognized:
            heard = heard_frames(speech.audio, fps)
            energy = loudness(heard, fps)
            if voice == AUTO:
                voice = voice_kind_in(heard)
            mouths = audio_mouth_controls(speech.audio, fps, voice=voice, feats=heard, recognized=recognized)
    mouths = with_emphasis((mouths + [FaceControls() for _ in range(n)])[:n], energy, fps)
    # The live face's idle motion, speaking from the first frame: the same life for the same seed.
    idle = IdleMotion(fps, seed=seed, head_motion=head_motion)
    expressions = expression_track(n, fps, *emotion) if emotion else [None] * n
    return [compose(idle.next_frame(True), mouth, expression) for mouth, expression in zip(mouths, expressions)], voice


def _draw_and_encode(avatar: Avatar, engine: Engine, controls: list[FaceControls], audio: Audio, fps: float,
                     out_path: str | Path, progress: bool) -> None:
    """Each frame drawn by `engine` and encoded with its audio into the MP4 at `out_path`."""
    n = len(controls)
    # The audio track lasts exactly as long as the video: padded with silence to the last frame's end.
    padded = np.zeros(int(round(n / fps * audio.rate)), dtype=np.float32)
    padded[: min(len(padded), len(audio.samples))] = audio.samples[: len(padded)]
    wants_audio = tuple(engine.audio_context) != (0, 0)
    samples16k = resample(audio, LISTEN_RATE).samples if wants_audio else None

    width, height = avatar.size
    encoder = _Encoder()  # (its thread runs before the file exists: see _Encoder)
    # (the bar is left first, whatever happens: a Ctrl+C's "interrupted" then comes after it, where
    # a bar cleared at exit took the message's line with it on a terminal)
    with (Mp4Writer(out_path, width, height, fps, audio.rate) as writer, encoder,
          tqdm(total=n, unit="frame", desc="render", disable=not progress, leave=False) as bar):
        # The encoder runs in its own thread (PyAV releases the GIL while encoding), one frame
        # behind the engine; a single worker keeps the frames in order. Each frame's audio goes
        # with it: the AAC encoder's work (~25 ms a second of speech) is spread over the render.
        pending: deque[Future] = deque()
        audio_sent = 0
        # Engines that batch (musetalk on a GPU) get frames in chunks; the cpu engine one by one.
        chunk = getattr(engine, "batch_size", 1) if hasattr(engine, "render_batch") else 1
        for first in range(0, n, chunk):
            ks = range(first, min(first + chunk, n))
            drives = [
                FrameDrive(controls[k], audio_window(samples16k, (k + 0.5) / fps, engine.audio_context) if wants_audio else None)
                for k in ks
            ]
            indices = list(ks)  # output frame numbers: each engine maps them onto the source's loop
            if chunk > 1:
                frames = engine.render_batch(avatar, indices, drives)
            else:
                frames = [engine.render(avatar, indices[0], drives[0])]
            audio_until = int(round((ks[-1] + 1) / fps * audio.rate))
            for frame in frames[:-1]:
                pending.append(encoder.submit(_write, writer, frame, padded[:0]))
            pending.append(encoder.submit(_write, writer, frames[-1], padded[audio_sent:audio_until]))
            audio_sent = audio_until
            while len(pending) > ENCODE_AHEAD:
                pending.popleft().result()  # also raises the encoder's errors here
            bar.update(len(frames))
        pending.append(encoder.submit(writer.write_audio, padded[audio_sent:]))
        for future in pending:
            future.result()


class _Encoder(ThreadPoolExecutor):
    """The render's one encoding thread, which must never outlive the file it writes to.

    A Ctrl+C or SIGTERM while an executor starts its thread leaves that thread running but unknown
    to the executor (threading's start is interrupted before the executor records it): its work
    then went on while the file was closed under it (a segfault, or an unfinished file left behind).
    So the thread is started here, before the file exists; and on leaving, whatever happens, the
    task being encoded is finished (the rest are dropped) before the file is closed or removed; a
    Ctrl+C that comes during that wait is raised once the thread is done.
    """

    def __init__(self) -> None:
        super().__init__(1, thread_name_prefix="livehuman-encode")
        self.submit(lambda: None).result()  # the thread starts now

    def __exit__(self, exc_type, exc, tb) -> None:
        interrupted = False
        while True:
            try:
                self.shutdown(wait=True, cancel_futures=True)
                break
            except KeyboardInterrupt:
                interrupted = True
        if interrupted and exc_type is None:
            raise KeyboardInterrupt


def audio_window(samples16k: np.ndarray, centre: float, context: tuple[float, float]) -> np.ndarray:
    """The 16 kHz audio from `centre - before` to `centre + after`, zero-padded at the edges."""
    before, after = context
    start = int(round((centre - before) * LISTEN_RATE))
    stop = int(round((centre + after) * LISTEN_RATE))
    window = np.zeros(stop - start, dtype=np.float32)
    lo, hi = max(start, 0), min(stop, len(samples16k))
    if hi > lo:
        window[lo - start : hi - start] = samples16k[lo:hi]
    return window


def _write(writer: Mp4Writer, frame: np.ndarray, audio: np.ndarray) -> None:
    writer.write_frame(frame)
    writer.write_audio(audio)


def render_video(
    avatar: Avatar,
    engine: Engine,
    speech: Speech,
    out_path: str | Path,
    fps: float | None = None,
    head_motion: bool = True,
    progress: bool = True,
    seed: int | None = 0,
    emotion: tuple[str, float] | None = None,
    voice: str = AUTO,
) -> RenderResult:
    """Render `speech` spoken by `avatar` into an MP4 at `out_path` (H.264 + AAC, same duration).

    `seed` makes the blinks and sway reproducible (None: new ones each time); each avatar blinks
    on its own frames either way. `emotion` (name, strength; motion.expression) is the face's
    expression for the whole render. `voice` is the kind of voice speech without phones is heard
    as (motion/closures.py: synthetic or natural; auto, the default: guessed from the sound).
    """
    fps = fps or avatar.fps
    t0 = time.perf_counter()
    # Audio without phones has them recognized in a child process, meanwhile the engine loads.
    with PhonesBeside(speech.audio) if not speech.phones else nullcontext() as recognized:
        engine.load(avatar)
        controls, voice_heard = speech_motion(speech, fps, head_motion, life_seed(avatar.name, seed), emotion,
                                              voice, recognized)
    motion_seconds = time.perf_counter() - t0

    n = len(controls)
    t1 = time.perf_counter()
    # A video avatar's rigs, built on a source frame's first use, are built beside the drawing by a
    # forked child (RigsBeside), made before the encoder's thread exists.
    with engine.rigs_ahead(avatar, n) if hasattr(engine, "rigs_ahead") else nullcontext():
        _draw_and_encode(avatar, engine, controls, speech.audio, fps, out_path, progress)
    render_seconds = time.perf_counter() - t1
    return RenderResult(
        path=Path(out_path),
        frames=n,
        duration=n / fps,
        motion_seconds=motion_seconds,
        render_seconds=render_seconds,
        audio_from="phones" if speech.phones else "audio",
        voice=voice_heard,
    )

