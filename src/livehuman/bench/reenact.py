"""Self-reenactment: a real talking video driven by its own soundtrack, against the real mouth.

The video becomes a video avatar; its soundtrack goes through the audio-only path (as natural speech
from OpenAI's voices does); each rendered frame k is drawn over source frame k, so the rendered lips
and the person's real lips can be compared frame by frame. Both are re-detected with the face mesh
(inner-lip gap / eye distance); the figures are their correlation at lag 0, the best within ±40 ms
and the best lag within ±200 ms (positive: the rendered mouth comes late).

Next to them, what the soundtrack can tell at all about this person's lips (the headline stays the
rendered-vs-real r): the real gap's correlation with the audio's own speech/silence segmentation
(a mouth that is open exactly while there is speech) and with its loudness, and the rendered-vs-real
correlation over the frames with speech only, all best within ±40 ms.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from livehuman.bench.lipsync import lagged_correlation
from livehuman.errors import LivehumanError

MAX_LAG_MS = 200.0
NEAR_LAG_MS = 40.0


@dataclass
class ReenactResult:
    video: str
    frames: int
    corr_lag0: float
    corr_within_40ms: float
    best_lag_ms: float
    corr_best: float
    speech_oracle_within_40ms: float  # real gap vs the soundtrack's speech (1) / silence (0) frames
    loudness_within_40ms: float  # real gap vs the soundtrack's loudness (0..1)
    speech_frames_within_40ms: float  # rendered vs real, frames with speech only
    real_gap: np.ndarray
    rendered_gap: np.ndarray
    fps: float
    seconds: float

    def as_dict(self) -> dict:
        d = asdict(self)
        del d["real_gap"], d["rendered_gap"]
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def _gaps(frames, detector) -> np.ndarray:
    from livehuman.avatar.landmarks import lip_gap

    out = []
    for frame in frames:
        face = detector.detect(frame)
        out.append(lip_gap(face.points) if face else np.nan)
    return np.array(out)


def reenact(video: str | Path, engine=None, progress: bool = True) -> ReenactResult:
    """Drive `video`'s avatar with its own soundtrack and compare the rendered lips with the real ones."""
    from tqdm import tqdm

    from livehuman.avatar.cache import load_avatar
    from livehuman.avatar.landmarks import FaceMeshDetector
    from livehuman.motion.audio_mouth import speech_energy
    from livehuman.motion.closures import NATURAL
    from livehuman.render.batch import speech_controls
    from livehuman.render.engine import FrameDrive
    from livehuman.render.engines import make_engine
    from livehuman.speech.audio import Speech, load_audio

    t0 = time.perf_counter()
    path = Path(video)
    if not path.is_file():
        raise LivehumanError(f"no such video: {str(video)!r}")
    audio = load_audio(path)  # refuses a file without a soundtrack, in one line
    avatar = load_avatar(path, progress=progress)
    if avatar.kind != "video":
        raise LivehumanError(f"{path.name} is not a video: self-reenactment needs a talking video with sound")
    engine = engine or make_engine("cpu")
    engine.load(avatar)
    controls = speech_controls(Speech(audio), avatar.fps, voice=NATURAL)  # the person's own voice
    n = min(len(controls), avatar.n_frames)  # past the footage's end the source plays backwards
    rendered, real = [], []
    with tqdm(total=n, unit="frame", desc="reenact", disable=not progress) as bar:  # (left before any error's line)
        for k in range(n):
            rendered.append(engine.render(avatar, k, FrameDrive(controls[k], None)))
            real.append(avatar.frames[avatar.source_index(k)])
            bar.update()
    with FaceMeshDetector(video=True, max_faces=1) as detector:
        real_gap = _gaps(real, detector)
    with FaceMeshDetector(video=True, max_faces=1) as detector:
        rendered_gap = _gaps(rendered, detector)
    frame_ms = 1000.0 / avatar.fps
    max_lag = int(round(MAX_LAG_MS / frame_ms))
    corrs = {lag: lagged_correlation(rendered_gap, real_gap, lag) for lag in range(-max_lag, max_lag + 1)}
    finite = {lag: c for lag, c in corrs.items() if not np.isnan(c)}
    if not finite:
        raise LivehumanError(f"no lips found in {path.name}: the face mesh must see the mouth")
    best = max(finite, key=finite.get)
    near = [c for lag, c in finite.items() if abs(lag) * frame_ms <= NEAR_LAG_MS + 1e-6]
    near_lag = int(round(NEAR_LAG_MS / frame_ms))
    loudness = speech_energy(audio, avatar.fps)[:n]
    speaking = loudness > 0
    return ReenactResult(
        video=str(path), frames=n, corr_lag0=corrs[0], corr_within_40ms=max(near) if near else float("nan"),
        speech_oracle_within_40ms=_best_near(speaking.astype(float), real_gap, near_lag),
        loudness_within_40ms=_best_near(loudness, real_gap, near_lag),
        speech_frames_within_40ms=_best_near(np.where(speaking, rendered_gap, np.nan), real_gap, near_lag),
        best_lag_ms=best * frame_ms, corr_best=finite[best], real_gap=real_gap, rendered_gap=rendered_gap,
        fps=avatar.fps, seconds=time.perf_counter() - t0,
    )  # fmt: skip


def _best_near(x: np.ndarray, real: np.ndarray, max_lag: int) -> float:
    """The best correlation of x with the real gap within ±max_lag frames (NaN if none)."""
    corrs = [lagged_correlation(x, real, lag) for lag in range(-max_lag, max_lag + 1)]
    finite = [c for c in corrs if not np.isnan(c)]
    return max(finite) if finite else float("nan")


def plot_reenact(result: ReenactResult, path: str | Path) -> None:
    """The real and the rendered lip gap over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = (np.arange(len(result.real_gap)) + 0.5) / result.fps
    fig, ax = plt.subplots(figsize=(10, 2.6))
    ax.plot(t, result.real_gap, color="black", label="real mouth (source video)")
    ax.plot(t, result.rendered_gap, color="tab:red", label="rendered from the soundtrack alone")
    ax.set_xlabel("seconds")
    ax.set_ylabel("inner-lip gap / eye distance")
    ax.set_title(
        f"{Path(result.video).name}: r = {result.corr_lag0:.2f} at lag 0, "
        f"{result.corr_within_40ms:.2f} within ±40 ms (best {result.corr_best:.2f} at {result.best_lag_ms:+.0f} ms)",
        fontsize=9,
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
