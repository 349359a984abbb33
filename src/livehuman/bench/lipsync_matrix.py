"""The lip-sync matrix: every face x every voice through the audio-only path, scored on re-detected lips.

Each voice speaks one of the benchmark's sentences (voices take turns, so every sentence is spoken),
with lipsync.LEAD_SILENCE before and after. The motion stage sees only the audio (as for OpenAI's voices and
user recordings); its controls are computed once per voice and drawn on every face. Each drawn frame
goes straight to the face mesh (no H.264 round trip: the figures judge the motion and the engine,
not the encoder), which re-detects the inner-lip gap, and `lipsync.score` compares it with the
phones the voice reported.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from livehuman.bench.lipsync import SENTENCES, LipSyncScore, MouthTrack, pad_speech, score
from livehuman.bench.options import LipsyncOptions, LipsyncTargets
from livehuman.bench.voices import VoiceSpec, parse_voice, recording, synthesize
from livehuman.errors import LivehumanError
from livehuman.speech.audio import Speech



@dataclass
class Cell:
    """One face x voice render and its figures."""

    face: str
    voice: str
    held_out: bool
    score: LipSyncScore
    heard_as: str = ""  # audio only: the kind of voice the motion stage took it for (motion/voice_kind.py)

    @property
    def figures(self) -> dict[str, float]:
        s = self.score
        return {
            "open_vs_closure": s.open_vs_closure,
            "closure_closed": s.closure_closed,
            "corr_within_20ms": s.corr_within_20ms,
            "silence_open": s.silence_open,
        }

    def margin(self, targets: LipsyncTargets) -> float:
        """How far the cell is from failing: the smallest of (figure - target), sign flipped for
        figures with a ceiling; NaN figures (no such frames) do not count."""
        t = asdict(targets)
        margins = []
        for key, value in self.figures.items():
            if math.isnan(value):
                continue
            margins.append(t[key] - value if key == "silence_open" else value - t[key])
        return min(margins) if margins else math.nan

    def passes(self, targets: LipsyncTargets) -> bool:
        return not self.margin(targets) < 0


def voice_specs(options: LipsyncOptions) -> list[VoiceSpec]:
    """The matrix's voices, parsed (a bad name fails here, in one line), recordings last (as recorded,
    then degraded)."""
    recordings = [f"wav:{p}" for p in options.natural] + [f"wav:{p}+{d}" for d in options.degrade for p in options.natural]
    return [parse_voice(v) for v in options.voices + tuple(recordings)]


# Voices the audio-only path was tuned on; the rest of the matrix (and every natural recording,
# every face but the default) was held out.
TUNED_ON = frozenset({
    "espeak:en-us@120/50", "espeak:en-us@175/50", "espeak:en-us@260/50", "espeak:en-us@175/20",
    "espeak:en-us@175/90", "espeak:en-us@260/90", "flite:slt", "flite:rms",
})  # fmt: skip


def face_path(face: str, folder: Path) -> str:
    """An avatar source for a face name: the built-in default, the astronaut photo, one of
    bench/faces.py's harder faces (written to `folder`), or a path as given."""
    if face in ("default", "grace"):
        return "default"
    if face == "astronaut":
        import skimage

        return str(Path(skimage.__file__).parent / "data" / "astronaut.png")
    if Path(face).exists():
        return face
    try:
        from livehuman.bench.faces import FACES, write_face
    except ImportError:
        raise LivehumanError(f"unknown face {face!r}: the harder faces need livehuman.bench.faces") from None
    if face not in FACES:
        raise LivehumanError(f"unknown face {face!r}: choose default, astronaut, {', '.join(FACES)} or a photo's path")
    return str(write_face(face, folder))


@dataclass
class VoiceTake:
    """A voice's sentence, its reference phones and the controls the motion stage made from it."""

    spec: VoiceSpec
    speech: Speech
    controls: list
    heard_as: str = ""  # audio only: the kind of voice guessed from its sound


def voice_take(spec: VoiceSpec, index: int, options: LipsyncOptions) -> VoiceTake:
    from livehuman.render.batch import speech_controls, speech_motion

    if spec.natural:
        raw = recording(spec)
    else:
        raw = synthesize(spec, SENTENCES[index % len(SENTENCES)])
    speech = pad_speech(raw)
    if options.mode == "text":
        return VoiceTake(spec, speech, speech_controls(speech, options.fps))
    # Audio only, as `render --audio` takes it: the kind of voice is guessed from the sound.
    controls, heard_as = speech_motion(Speech(speech.audio), options.fps)
    return VoiceTake(spec, speech, controls, heard_as)


def draw_and_measure(avatar, engine, controls: list, fps: float, detector) -> MouthTrack:
    """Draw every frame of `controls` on `avatar` and re-detect the lips on each."""
    from livehuman.avatar.landmarks import lip_gap, mouth_width
    from livehuman.render.engine import FrameDrive

    gaps, widths = [], []
    for k, c in enumerate(controls):
        frame = engine.render(avatar, k, FrameDrive(c, None))
        face = detector.detect(frame)
        gaps.append(lip_gap(face.points) if face else np.nan)
        widths.append(mouth_width(face.points) if face else np.nan)
    return MouthTrack(gap=np.array(gaps), width=np.array(widths), fps=fps)


@dataclass
class MatrixResult:
    cells: list[Cell]
    targets: LipsyncTargets
    seconds: float
    tracks: dict = field(default_factory=dict)  # (face, voice) -> (MouthTrack, phones)

    def mean(self) -> dict[str, float]:
        keys = self.cells[0].figures if self.cells else {}
        return {k: float(np.nanmean([c.figures[k] for c in self.cells])) for k in keys}

    def worst(self) -> dict[str, float]:
        """Each figure's worst value over the cells (lowest, or highest for silence)."""
        out = {}
        for k in self.cells[0].figures if self.cells else {}:
            values = [c.figures[k] for c in self.cells if not math.isnan(c.figures[k])]
            out[k] = (max if k == "silence_open" else min)(values) if values else math.nan
        return out

    def worst_cell(self) -> Cell | None:
        """The cell closest to failing (or failing by most)."""
        scored = [c for c in self.cells if not math.isnan(c.margin(self.targets))]
        return min(scored, key=lambda c: c.margin(self.targets)) if scored else None

    def as_dict(self) -> dict:
        worst = self.worst_cell()
        return {
            "cells": [
                {"face": c.face, "voice": c.voice, "held_out": c.held_out, "passes": c.passes(self.targets),
                 **{k: round(v, 3) for k, v in c.figures.items()},
                 "corr_best_lag_ms": c.score.corr_best_lag_ms, "heard_as": c.heard_as}
                for c in self.cells
            ],
            "mean": {k: round(v, 3) for k, v in self.mean().items()},
            "worst": {k: round(v, 3) for k, v in self.worst().items()},
            "worst_cell": f"{worst.face} x {worst.voice}" if worst else None,
            "cells_passing": f"{sum(c.passes(self.targets) for c in self.cells)}/{len(self.cells)}",
            "targets": asdict(self.targets),
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def run_matrix(options: LipsyncOptions, engine=None) -> MatrixResult:
    """Every face x voice cell of `options`, with a progress bar (ETA) over the cells."""
    from tqdm import tqdm

    from livehuman.avatar.cache import load_avatar
    from livehuman.avatar.landmarks import FaceMeshDetector
    from livehuman.render.engines import make_engine

    t0 = time.perf_counter()
    specs = voice_specs(options)
    engine = engine or make_engine("cpu")
    cells: list[Cell] = []
    tracks: dict = {}
    with tempfile.TemporaryDirectory(prefix="livehuman-lipsync-") as tmp:
        sources = {face: face_path(face, Path(tmp)) for face in options.faces}  # bad names fail first
        # (the bar is left before an error's line is printed, which would otherwise end up on the bar's)
        with tqdm(total=len(specs) * (1 + len(sources)), unit="step", desc="lipsync matrix",
                  disable=not options.progress) as bar:  # fmt: skip
            takes = []
            for i, spec in enumerate(specs):
                bar.set_postfix_str(f"motion {spec.label}")
                takes.append(voice_take(spec, i, options))
                bar.update(1)
            for face, source in sources.items():
                avatar = load_avatar(source, fps=options.fps, progress=False)
                engine.load(avatar)
                for take in takes:
                    bar.set_postfix_str(f"{face} x {take.spec.label}")
                    # A fresh detector per cell: its video tracking must not carry over between renders.
                    with FaceMeshDetector(video=True, max_faces=1) as detector:
                        track = draw_and_measure(avatar, engine, take.controls, options.fps, detector)
                    s = score(track, take.speech.phones)
                    held_out = take.spec.name not in TUNED_ON or face != "default"
                    cells.append(Cell(face, take.spec.label, held_out, s, take.heard_as))
                    tracks[(face, take.spec.label)] = (track, take.speech.phones)
                    bar.update(1)
    return MatrixResult(cells, options.targets, time.perf_counter() - t0, tracks)


def plot_matrix(result: MatrixResult, path: str | Path) -> None:
    """One heat map per figure (faces x voices, red where the target is missed) and the worst
    cell's lip gap against the phones' expected openness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from livehuman.bench.lipsync import CLOSURES, base_symbol, label_frames

    faces = list(dict.fromkeys(c.face for c in result.cells))
    voices = list(dict.fromkeys(c.voice for c in result.cells))
    t = asdict(result.targets)
    fig = plt.figure(figsize=(max(10, 0.55 * len(voices) * 2 + 3), 3.2 + 0.9 * len(faces)))
    grid = fig.add_gridspec(3, 2, height_ratios=[len(faces), len(faces), 2.2])
    keys = list(result.cells[0].figures)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(grid[i // 2, i % 2])
        m = np.full((len(faces), len(voices)), np.nan)
        for c in result.cells:
            m[faces.index(c.face), voices.index(c.voice)] = c.figures[key]
        ceiling = key == "silence_open"
        bad = m > t[key] if ceiling else m < t[key]
        colours = ListedColormap(["#f2a9a0", "#c3e6b4"])  # light, so the figures stay readable
        ax.imshow(np.where(bad, 0.0, 1.0), cmap=colours, vmin=0, vmax=1, aspect="auto")
        for (r, q), v in np.ndenumerate(m):
            if not math.isnan(v):
                ax.text(q, r, f"{v:.2f}", ha="center", va="center", fontsize=6.5)
        ax.set_title(f"{key} ({'≤' if ceiling else '≥'} {t[key]})", fontsize=9)
        ax.set_yticks(range(len(faces)), faces, fontsize=7)
        ax.set_xticks(range(len(voices)), voices, fontsize=6.5, rotation=60, ha="right")
    worst = result.worst_cell()
    if worst and (worst.face, worst.voice) in result.tracks:
        ax = fig.add_subplot(grid[2, :])
        track, phones = result.tracks[(worst.face, worst.voice)]
        times = (np.arange(len(track.gap)) + 0.5) / track.fps
        labels = label_frames(phones, len(track.gap), track.fps)
        ax.plot(times, track.gap / (np.nanmax(track.gap) or 1.0), color="tab:red", label="lip gap (re-detected)")
        ax.step(times, labels.openness, where="mid", color="tab:blue", alpha=0.6, label="expected openness")
        for p in phones:
            if base_symbol(p.symbol) in CLOSURES:
                ax.axvspan(p.start, p.end, color="grey", alpha=0.25)
        ax.set_title(f"worst cell: {worst.face} x {worst.voice} (grey: P/B/M)", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def bench_lipsync(args) -> dict:
    """`livehuman bench lipsync`: the faces x voices matrix (or, with --real-video, self-reenactment)."""
    from livehuman.bench.options import from_args

    options = from_args(LipsyncOptions, args)
    if options.real_video:
        from livehuman.bench.reenact import plot_reenact, reenact

        result = reenact(options.real_video)
        if options.plot:
            plot_reenact(result, options.plot)
        return {**result.as_dict(), **({"plot": options.plot} if options.plot else {})}
    result = run_matrix(options)
    if options.plot:
        plot_matrix(result, options.plot)
    if getattr(args, "json", False):
        return result.as_dict()
    out: dict = {}
    for c in result.cells:
        f = c.figures
        out[f"{c.face} x {c.voice}{'' if c.held_out else ' (tuned)'}"] = (
            f"AUC {f['open_vs_closure']:.2f}  closed {f['closure_closed']:.2f}  "
            f"corr {f['corr_within_20ms']:.2f}  silence {f['silence_open']:.2f}  "
            f"{'pass' if c.passes(result.targets) else 'FAIL'}"
        )
    for name, figures in (("mean", result.mean()), ("worst", result.worst())):
        out[name] = "  ".join(f"{k} {v:.2f}" for k, v in figures.items())
    summary = result.as_dict()
    out["worst cell"] = summary["worst_cell"]
    out["cells passing"] = summary["cells_passing"]
    out["seconds"] = summary["seconds"]
    if options.plot:
        out["plot"] = options.plot
    return out
