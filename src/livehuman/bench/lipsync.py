"""Lip-sync measured the way a skeptic would.

Render speech whose phone timings are known from the voice itself (espeak-ng's phoneme events,
flite's segment times), decode the MP4, re-detect the mouth with mediapipe's face mesh on every
frame, and compare what the lips did with what was said:

- inner-lip gap (landmarks 13-14) and mouth width (61-291), each divided by the inter-ocular
  distance;
- open vowels must be more open than P/B/M closures, closures nearly shut, silence shut;
- the gap must follow the expected openness of the phones, at a lag near zero;
- rounded vowels must be narrower than spread ones.

The reference classes below are plain phonetics, written apart from the motion stage's tables on
purpose: the renderer is judged against the phones, not against its own rules. `bench lipsync`
runs these scores over every face x voice (bench/lipsync_matrix.py) or, with --real-video, compares
with a real mouth (bench/reenact.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from livehuman.avatar.landmarks import FaceMeshDetector, lip_gap, mouth_width
from livehuman.speech.phones import Phone

OPEN_VOWELS = {"a", "ɑ", "æ", "ɒ", "ɔ", "ʌ", "ɐ", "aɪ", "aʊ", "ɔɪ", "ɑɪ", "ɑʊ"}
MID_VOWELS = {"e", "ɛ", "ə", "ɜ", "o", "ɚ", "ɝ", "eɪ", "oʊ", "əʊ", "eə", "ɛə", "ɔə", "ɑɹ", "ɔɹ", "ɛɹ"}
CLOSE_VOWELS = {"i", "ɪ", "u", "ʊ", "y", "ɨ", "ɯ", "ɪə", "ʊə"}
CLOSURES = {"p", "b", "m"}
ROUNDED = {"u", "ʊ", "oʊ", "əʊ", "o", "w", "ʊə"}
SPREAD = {"i", "ɪ", "eɪ", "e"}
SILENCE_MARGIN = 0.15  # seconds away from any phone before a frame counts as silence


def base_symbol(symbol: str) -> str:
    """IPA without stress, length, syllabic and other diacritic marks."""
    drop = "ˈˌːˑ̩̯̃ʰʲʷ̪̥̬-_'"
    return "".join(ch for ch in symbol if ch not in drop)


def expected_openness(symbol: str) -> float:
    """How open a phone holds the lips, from phonetics alone: 1 for /a/, 0 for /m/."""
    s = base_symbol(symbol)
    if s in OPEN_VOWELS:
        return 1.0
    if s in MID_VOWELS or s.startswith(("ɑ", "a", "æ")):
        return 0.65
    if s in CLOSE_VOWELS:
        return 0.35
    if s in CLOSURES:
        return 0.0
    if s in {"f", "v"}:
        return 0.1
    return 0.25


@dataclass
class FrameLabels:
    """Per video frame: the phone class heard at its centre and the expected openness."""

    kind: np.ndarray  # str per frame: "open", "closure", "rounded", "spread", "silence", "other"
    openness: np.ndarray  # float per frame


def label_frames(phones: list[Phone], n_frames: int, fps: float) -> FrameLabels:
    kind = np.full(n_frames, "other", dtype=object)
    openness = np.zeros(n_frames)
    for k in range(n_frames):
        t = (k + 0.5) / fps
        current = next((p for p in phones if p.start <= t < p.end), None)
        if current is None:
            near = min((max(p.start - t, t - p.end, 0.0) for p in phones), default=np.inf)
            if near >= SILENCE_MARGIN:
                kind[k] = "silence"
            continue
        s = base_symbol(current.symbol)
        openness[k] = expected_openness(current.symbol)
        if s in OPEN_VOWELS:
            kind[k] = "open"
        elif s in CLOSURES:
            kind[k] = "closure"
        elif s in ROUNDED:
            kind[k] = "rounded"
        elif s in SPREAD:
            kind[k] = "spread"
    return FrameLabels(kind=kind, openness=openness)


@dataclass
class MouthTrack:
    """The mouth re-detected on each frame of a video (NaN where no face was found)."""

    gap: np.ndarray
    width: np.ndarray
    fps: float


def measure_video(path: str | Path) -> MouthTrack:
    """Decode an MP4 and measure the lips on every frame with the face mesh."""
    gaps, widths = [], []
    with av.open(str(path)) as container, FaceMeshDetector(video=True, max_faces=1) as detector:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        for frame in container.decode(stream):
            face = detector.detect(frame.to_ndarray(format="bgr24"))
            gaps.append(lip_gap(face.points) if face else np.nan)
            widths.append(mouth_width(face.points) if face else np.nan)
    return MouthTrack(gap=np.array(gaps), width=np.array(widths), fps=fps)


def prob_greater(a: np.ndarray, b: np.ndarray) -> float:
    """P(x > y) for x from a and y from b, ties counting half (the AUC)."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    diff = a[:, None] - b[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def lagged_correlation(x: np.ndarray, y: np.ndarray, lag: int) -> float:
    """Pearson correlation of x[k + lag] with y[k] (lag > 0: x comes late)."""
    if lag > 0:
        x, y = x[lag:], y[:-lag]
    elif lag < 0:
        x, y = x[:lag], y[-lag:]
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


@dataclass
class LipSyncScore:
    """The figures issue 2 sets targets for."""

    open_vs_closure: float  # P(gap at an open vowel > gap at a P/B/M closure)
    closure_closed: float  # share of closure frames with gap < a quarter of the open-vowel median
    corr_lag0: float  # correlation of gap with expected openness at lag 0
    corr_best: float  # best correlation over lags within ±200 ms
    corr_best_lag_ms: float
    corr_within_40ms: float  # best correlation over lags within ±40 ms
    corr_within_20ms: float  # best correlation over lags within ±20 ms (lag 0 only at 25 fps)
    silence_max_ratio: float  # largest gap in silence / open-vowel median gap
    silence_open: float  # how open the mouth is in silence: 90th percentile gap / open-vowel median
    round_vs_spread: float  # P(width at a rounded vowel < width at a spread vowel)
    open_median_gap: float
    frames: int
    undetected: int

    def as_dict(self) -> dict:
        return asdict(self)


def score(track: MouthTrack, phones: list[Phone]) -> LipSyncScore:
    """Compare re-detected lips with the phones that were spoken."""
    labels = label_frames(phones, len(track.gap), track.fps)
    gap, width, kind = track.gap, track.width, labels.kind
    open_median = float(np.nanmedian(gap[kind == "open"])) if (kind == "open").any() else float("nan")
    closure = gap[kind == "closure"]
    closure = closure[~np.isnan(closure)]
    frame_ms = 1000.0 / track.fps
    max_lag = int(round(200 / frame_ms))
    lags = range(-max_lag, max_lag + 1)
    corrs = {lag: lagged_correlation(gap, labels.openness, lag) for lag in lags}
    best_lag = max(lags, key=lambda lag: np.nan_to_num(corrs[lag], nan=-2))
    near = [lag for lag in lags if abs(lag) * frame_ms <= 40 + 1e-6]
    nearer = [lag for lag in lags if abs(lag) * frame_ms <= 20 + 1e-6]
    silence = gap[kind == "silence"]
    silence = silence[~np.isnan(silence)]
    return LipSyncScore(
        open_vs_closure=prob_greater(gap[kind == "open"], gap[kind == "closure"]),
        closure_closed=float((closure < 0.25 * open_median).mean()) if len(closure) else float("nan"),
        corr_lag0=corrs[0],
        corr_best=corrs[best_lag],
        corr_best_lag_ms=best_lag * frame_ms,
        corr_within_40ms=max(np.nan_to_num(corrs[lag], nan=-2) for lag in near),
        corr_within_20ms=max(np.nan_to_num(corrs[lag], nan=-2) for lag in nearer),
        silence_max_ratio=float(silence.max() / open_median) if len(silence) else float("nan"),
        silence_open=float(np.percentile(silence, 90) / open_median) if len(silence) else float("nan"),
        round_vs_spread=prob_greater(width[kind == "spread"], width[kind == "rounded"]),
        open_median_gap=open_median,
        frames=len(gap),
        undetected=int(np.isnan(gap).sum()),
    )


# ----------------------------------------------------------------------------------------------
# The benchmark: several voices and faces, text renders (exact timings) and audio-only renders.

SENTENCES = (
    "Bob bought a big map of Paris. Please keep the blue boat by the pool, and we will meet at noon.",
    "My mother paid a lot for the cheap pub lunch. Who knew the moon was so bright above the bay?",
    "People bring maps and books to the beach. Father saw a huge moose in the park at night.",
)
LEAD_SILENCE = 0.6  # seconds of silence before and after the speech, to judge the mouth at rest


@dataclass
class LipSyncCase:
    """One measured render: which face, which voice, and whether the renderer saw the phones."""

    face: str
    voice: str
    mode: str  # "text" (the renderer gets exact phone timings) or "audio" (audio only)
    sentence: int


def pad_speech(speech, seconds: float = LEAD_SILENCE):
    """The same speech with silence before and after it; phone times shifted to match."""
    from livehuman.speech.audio import Audio, Speech

    pad = np.zeros(int(seconds * speech.audio.rate), dtype=np.float32)
    samples = np.concatenate([pad, speech.audio.samples, pad])
    phones = [Phone(p.symbol, p.start + seconds, p.end + seconds) for p in speech.phones or []]
    return Speech(Audio(samples, speech.audio.rate), phones, speech.text)


def reference_speech(voice: str, text: str):
    """Speech with its true phone timings: espeak-ng voices by name, flite voices as flite:NAME."""
    if voice.startswith("flite:"):
        from livehuman.speech.flite import flite_speech

        return flite_speech(text, voice=voice.split(":", 1)[1])
    from livehuman.speech.espeak import EspeakTTS

    return EspeakTTS(voice=voice).synthesize(text)


def run_case(case: LipSyncCase, avatar, engine, workdir: Path) -> tuple[LipSyncScore, MouthTrack, list[Phone]]:
    """Render one case to an MP4, measure it, score it."""
    from livehuman.render.batch import render_video
    from livehuman.speech.audio import Speech

    speech = pad_speech(reference_speech(case.voice, SENTENCES[case.sentence]))
    given = speech if case.mode == "text" else Speech(speech.audio)
    out = workdir / f"{case.face}_{case.voice.replace(':', '-')}_{case.mode}_{case.sentence}.mp4"
    render_video(avatar, engine, given, out, progress=False)
    track = measure_video(out)
    return score(track, speech.phones), track, speech.phones


def face_source(face: str) -> str:
    """A face by short name: "default" (the built-in avatar) or "astronaut" (scikit-image's photo)."""
    if face == "default":
        return "default"
    if face == "astronaut":
        import skimage

        return str(Path(skimage.__file__).parent / "data" / "astronaut.png")
    return face

