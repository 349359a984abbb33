"""Train motion/closures.py's networks from voices' exact phone timings; write data/closures*.npz.

    .venv/bin/python scripts/train_closures.py            # train data/closures.npz, then check the shipped pair
    .venv/bin/python scripts/train_closures.py --rooms    # train data/closures_rooms.npz, then check
    .venv/bin/python scripts/train_closures.py --natural [--rooms]  # the pair for people's voices
    .venv/bin/python scripts/train_closures.py --check    # only check the shipped pair

Training voices are 40 espeak-ng variants at many rates and pitches and flite slt and rms, speaking
sentences of their own, some full of p, b and m, some of t, d, n and l between vowels (without
those the network pressed the lips on every flap). With --rooms each utterance is also heard
through a simulated room (bench/rooms.py: reverberation and noise, one room per utterance,
seeded), which fills a closure as a phone or laptop recording does; the tracker averages the two
networks (docs/motion.md). None of the lip-sync matrix's voices (but slt and rms, which it already
counts as tuned on) nor its sentences (bench/options.py LIPSYNC_VOICES, bench/lipsync.py SENTENCES)
is trained on: they are the check printed at the end. With --natural the voices are festival's two
diphone voices (a person's recordings joined) at eight rates and pitches each (NATURAL_TRAIN_VOICES):
the networks for voices known to be people's (data/closures_natural*.npz); the check still prints
the synthetic pair's figures (the natural pair's are in docs/benchmarks.md, session 20).
Seeded, but not bit-for-bit: espeak-ng's synthesis varies by a few samples from run to run, so a
retrained network has other weights; its figures stay within a point or two (docs/motion.md).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from livehuman.bench.lipsync import SENTENCES, OPEN_VOWELS, base_symbol, pad_speech
from livehuman.bench.options import LIPSYNC_VOICES
from livehuman.bench.rooms import random_room, through_room
from livehuman.bench.voices import parse_voice, synthesize
from livehuman.motion.acoustics import audio_features
from livehuman.motion.audio_mouth import _mouth_array, audio_mouth_controls, closure_inputs, loudest_near
from livehuman.motion.closures import (
    NATURAL,
    SYNTHETIC,
    VOICE_KINDS,
    ClosureModel,
    load_closure_model,
    shipped_closure_networks,
)
from livehuman.speech.audio import Audio, Speech

FPS = 25.0
TRAIN_VOICES = (
    "espeak:en-us+m1@150/40", "espeak:en-us+m3@220/60", "espeak:en-us+m5@190/30", "espeak:en-us+m7@280/70",
    "espeak:en-us+m8@240/20", "espeak:en-us+f1@200/80", "espeak:en-us+f2@160/60", "espeak:en-us+f5@240/95",
    "espeak:en-us+klatt@175/50", "espeak:en-us+klatt3@230/40", "espeak:en-us+klatt5@200/65",
    "espeak:en-us+klatt6@260/30", "espeak:en-gb+m2@300/50", "espeak:en-us+croak@170/20",
    "espeak:en-us+Alex@210/55", "espeak:en-us+david@180/45", "espeak:en-us+belinda@200/75",
    "espeak:en-us+Michael@230/45", "espeak:en-us+Mike@160/55", "espeak:en-us+aunty@190/85",
    "espeak:en-us+boris@250/35", "espeak:en-us+edward@140/40", "espeak:en-us+gustave@210/60",
    "espeak:en-us+iven@280/50", "espeak:en-us+linda@180/90", "espeak:en-us+pablo@220/40",
    "espeak:en-us+Storm@200/60", "espeak:en-us+Tweaky@170/70", "espeak:en-us+Denis@310/50",
    "espeak:en-us+Lee@200/45", "espeak:en-us+Gene@240/25", "espeak:en-us+steph@190/80",
    "espeak:en-us+robert@160/35", "espeak:en-us+announcer@220/55", "espeak:en-us+Alicia@260/80",
    "espeak:en-us+Hugo@180/30", "espeak:en-us+miguel@290/65", "espeak:en-029@175/50",
    "espeak:en-us@140/10", "espeak:en-us@300/60", "flite:slt", "flite:rms",
)  # fmt: skip
TRAIN_SENTENCES = (
    "Put the big box by my bed, please.",
    "Pam's brother Bill baked a plum bun for the bishop.",
    "Come home by nine and bring the map of Bombay.",
    "Umbrellas are simply impossible in the mob.",
    "We hope you enjoy the happy summer in Bermuda.",
    "The cab driver hummed a bump and a thump. Maybe Tom bumped Pam.",
    "Ben made a plump apple pie by the map shop.",
    "Remember me. Maybe by May we can buy a lamp, a pump and a mop.",
    # As many dips that are not the lips: t, d, n, l, the flap, th, k and g between vowels.
    "Eddie needed a little water, and the kitten hid under a ladder.",
    "Not today, said the tired doctor; a needle and a lot of tea would do.",
    "Katie told Nina that the city at night is a noisy, giddy riddle.",
    "The attic door creaked; a cat and a goat ate the oats in the garden.",
    "Add it to the total, then get the data and the letter to Ted and Ollie.",
)
# Natural closures with exact timings: festival's diphone voices (a person's recorded diphones,
# joined), eight rates and pitches each. Not the matrix's own two (festival:ked, festival:kal@0.8/200).
NATURAL_TRAIN_VOICES = tuple(
    f"festival:{name}@{rate}" for name in ("ked", "kal")
    for rate in ("0.75/140", "1.25/95", "0.85/180", "1.1/260", "0.7/110", "0.9/170", "1.15/230", "1.05/120"))
HIDDEN = 32
STEPS = 4000


def frames(job: tuple[str, str, bool, int | None]) -> list[tuple[str, np.ndarray, bool]]:
    """(kind, network inputs, whether the whole tracker closed the lips) for each frame inside a
    phone; heard through a random room seeded by the job's last item (as synthesized if None)."""
    voice, text, tracked, room_seed = job
    speech = pad_speech(synthesize(parse_voice(voice), text))
    if room_seed is not None:
        rng = np.random.default_rng(room_seed)
        audio = speech.audio
        speech = Speech(Audio(through_room(audio.samples, audio.rate, random_room(rng), rng), audio.rate),
                        speech.phones, speech.text)
    feats = audio_features(speech.audio, FPS)
    closed = np.zeros(len(feats), bool)
    if tracked:  # the tracker with the shipped network (so not while a new one is trained)
        closed = _mouth_array(audio_mouth_controls(speech.audio, FPS))[: len(feats), 3] > 0.5
    out = []
    for k, f in enumerate(feats):
        t = (k + 0.5) / FPS
        phone = next((p for p in speech.phones if p.start <= t < p.end), None)
        if phone is None or not f.bands:
            continue
        s = base_symbol(phone.symbol)
        kind = "closure" if s in "pbm" else "open" if s in OPEN_VOWELS else "other"
        out.append((kind, closure_inputs(feats, k, loudest_near(feats, k)), bool(closed[k])))
    return out


def dataset(voices, sentences, tracked: bool = False, rooms: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = [(v, s) for v in voices for s in sentences]
    jobs = [(v, s, tracked, None) for v, s in pairs]
    if rooms:
        jobs += [(v, s, tracked, seed) for seed, (v, s) in enumerate(pairs)]
    with ProcessPoolExecutor() as pool:
        rows = [r for rs in pool.map(frames, jobs) for r in rs]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows])


def train(x: np.ndarray, closed: np.ndarray) -> ClosureModel:
    """Minibatch Adam on the cross-entropy, seeded."""
    rng = np.random.default_rng(0)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z, y = (x - mean) / scale, closed.astype(np.float64)
    params = [rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], HIDDEN)), np.zeros(HIDDEN),
              rng.normal(0, 1 / np.sqrt(HIDDEN), HIDDEN), np.zeros(1)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, STEPS + 1):
        batch = rng.integers(0, len(z), 256)
        zb, yb = z[batch], y[batch]
        hidden = np.maximum(zb @ params[0] + params[1], 0.0)
        p = 1.0 / (1.0 + np.exp(-(hidden @ params[2] + params[3][0])))
        g = (p - yb) / len(yb)
        gh = np.outer(g, params[2]) * (hidden > 0)
        grads = (zb.T @ gh + 1e-4 * params[0], gh.sum(0), hidden.T @ g + 1e-4 * params[2], np.array([g.sum()]))
        for i, grad in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            params[i] -= 3e-3 * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
    return ClosureModel(mean, scale, params[0], params[1], params[2], float(params[3][0]))


def report(name: str, kind: np.ndarray, closed: np.ndarray) -> None:
    print(f"{name:22s} closures closed {closed[kind == 'closure'].mean():.3f}   open vowels closed "
          f"{closed[kind == 'open'].mean():.3f}   other phones closed {closed[kind == 'other'].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the shipped networks")
    parser.add_argument("--rooms", action="store_true", help="train the network that also hears every utterance "
                        "through a simulated room (data/closures_rooms.npz)")
    parser.add_argument("--natural", action="store_true", help="train the network for people's voices, from "
                        "festival's diphone voices (data/closures_natural.npz; with --rooms closures_natural_rooms.npz)")
    parser.add_argument("--out", help="where to write the network (default: its file in src/livehuman/data)")
    args = parser.parse_args()
    if not args.check:
        dry, rooms = VOICE_KINDS[NATURAL if args.natural else SYNTHETIC]
        name = rooms if args.rooms else dry
        out = args.out or Path(__file__).resolve().parents[1] / "src/livehuman/data" / name
        voices = NATURAL_TRAIN_VOICES if args.natural else TRAIN_VOICES
        kind, x, _ = dataset(voices, TRAIN_SENTENCES, rooms=args.rooms)
        print(f"training on {len(kind)} frames ({(kind == 'closure').sum()} closed)", file=sys.stderr)
        train(x, kind == "closure").save(out, voices=",".join(voices))
        load_closure_model.cache_clear()
        shipped_closure_networks.cache_clear()
    networks = shipped_closure_networks()
    kind, x, tracked = dataset(LIPSYNC_VOICES, SENTENCES, tracked=True)
    print("held out (the lip-sync matrix's voices and sentences):")
    report("the networks > 0.5", kind, networks.probability(x) > 0.5)
    report("the whole tracker", kind, tracked)


if __name__ == "__main__":
    main()
