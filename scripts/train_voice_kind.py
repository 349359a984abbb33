"""Train motion/voice_kind.py's network (a person's voice or a formant synthesizer's?); write data/voice_kind.npz.

    .venv/bin/python scripts/train_voice_kind.py          # train, then check on voices it never heard
    .venv/bin/python scripts/train_voice_kind.py --check  # only check the shipped network

It learns from the closure networks' own training voices (scripts/train_closures.py): the 40
espeak-ng variants and flite slt and rms, four sentences each, are "synthetic"; festival's diphone
voices at eight rates and pitches each (NATURAL_TRAIN_VOICES), eight sentences each, "a person";
each utterance also with hiss 15-35 dB under its voice. Each voiced frame is one example. The check
prints, for voices and sentences it never heard, the mean P(a person's voice) over their voiced
frames (over 0.5: heard as a person's). Seeded.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from livehuman.bench.lipsync import SENTENCES
from livehuman.bench.voices import parse_voice, synthesize, with_hiss
from livehuman.motion.acoustics import audio_features
from livehuman.motion.voice_kind import MODEL_FILE, person_probability, shipped_voice_kind_network, voice_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_closures import NATURAL_TRAIN_VOICES, TRAIN_SENTENCES, TRAIN_VOICES, train  # noqa: E402

# Never trained on: espeak-ng variants (those of the closure check and more), flite's other voices,
# festival's voices at the lip-sync matrix's rates and pitches.
CHECK_VOICES = (
    "espeak:en-us+m2@175/50", "espeak:en-us+m4@250/35", "espeak:en-us+f3@170/60", "espeak:en-us+f4@190/70",
    "espeak:en-gb+grandma@150/60", "espeak:en-us+Andy@300/80", "espeak:en-gb-scotland@200/70",
    "espeak:en-us@260/90", "espeak:en-gb-x-rp@175/50", "espeak:en-us@175/99",
    "flite:kal", "flite:kal16", "flite:awb", "festival:ked", "festival:kal@0.8/200",
)  # fmt: skip


def inputs(job: tuple[str, str, int]) -> np.ndarray:
    """The utterance's rows as synthesized, and again with hiss 15-35 dB under its voice (seeded by
    `k`): a recording with a cheap microphone's hiss is still a person's (docs/benchmarks.md,
    session 32), a synthesizer's with hiss still a synthesizer's."""
    voice, text, k = job
    audio = synthesize(parse_voice(voice), text).audio
    hissed = with_hiss(audio, np.random.default_rng(k))
    return np.concatenate([voice_inputs(audio_features(audio, 25.0)), voice_inputs(audio_features(hissed, 25.0))])


def mean_probability(job: tuple[str, str]) -> float | None:
    voice, text = job
    return person_probability(audio_features(synthesize(parse_voice(voice), text).audio, 25.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the shipped network")
    args = parser.parse_args()
    if not args.check:
        synthetic = [(v, s) for v in TRAIN_VOICES for s in TRAIN_SENTENCES[:4]]
        people = [(v, s) for v in NATURAL_TRAIN_VOICES for s in TRAIN_SENTENCES[:8]]
        with ProcessPoolExecutor() as pool:
            rows = list(pool.map(inputs, [(v, s, k) for k, (v, s) in enumerate(synthetic + people)]))
        x = np.concatenate(rows)
        person = np.concatenate([np.full(len(r), i >= len(synthetic)) for i, r in enumerate(rows)])
        print(f"training on {len(x)} voiced frames ({person.sum()} a person's)", file=sys.stderr)
        out = Path(__file__).resolve().parents[1] / "src/livehuman/data" / MODEL_FILE
        train(x, person).save(out, voices=",".join(TRAIN_VOICES + NATURAL_TRAIN_VOICES))
        shipped_voice_kind_network.cache_clear()
    with ProcessPoolExecutor() as pool:
        checked = list(pool.map(mean_probability, [(v, SENTENCES[i % 3]) for i, v in enumerate(CHECK_VOICES)]))
    for voice, p in zip(CHECK_VOICES, checked):
        print(f"{voice:32s} P(a person's voice) {p:.2f}")


if __name__ == "__main__":
    main()
