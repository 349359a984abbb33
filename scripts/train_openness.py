"""Train the audio-only mouth's openness network from voices' exact phone timings; write data/openness.npz.

    .venv/bin/python scripts/train_openness.py          # train, then check on held-out voices
    .venv/bin/python scripts/train_openness.py --check  # only check the shipped network

The network (motion/audio_mouth.py OPENNESS_FILE) says how open a voiced frame's jaw is, 0..1, from
the inputs the tracker gives it (`AudioMouthTracker._openness_inputs`: band levels around the frame,
voicing, formants and brightness against the speaker's own so far). Its target is the openness the
lip-sync benchmark expects of the phone at the frame's centre (bench/lipsync.py expected_openness),
so the inputs are recorded by running the tracker itself over each training utterance: training and
tracker cannot drift apart. Training voices: festival's diphone voices at eight rates and pitches
each (people's recordings joined) and the closure networks' 40 espeak-ng variants and flite slt and
rms (scripts/train_closures.py), speaking the closure networks' sentences and a few of open vowels.
The check prints, on the lip-sync matrix's voices and sentences and on natural recordings given as
arguments (scored against their aligned words, as `bench lipsync --natural` does), how the voiced
frames' openness correlates with the expected one: the network's against F1's alone (the rule it
replaced). Seeded; espeak-ng's synthesis varies by a few samples between runs, so a retrained
network's weights differ a little.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_closures import NATURAL_TRAIN_VOICES, TRAIN_SENTENCES, TRAIN_VOICES, train  # noqa: E402

from livehuman.bench.lipsync import SENTENCES, expected_openness, pad_speech  # noqa: E402
from livehuman.bench.options import LIPSYNC_VOICES, LipsyncOptions  # noqa: E402
from livehuman.bench.rooms import random_room, through_room  # noqa: E402
from livehuman.bench.voices import parse_voice, synthesize  # noqa: E402
from livehuman.motion.acoustics import audio_features  # noqa: E402
from livehuman.motion.audio_mouth import OPENNESS_FILE, AudioMouthTracker  # noqa: E402
from livehuman.motion.closures import NATURAL, load_closure_model  # noqa: E402
from livehuman.speech.audio import Audio, Speech  # noqa: E402

FPS = 25.0
OPEN_SENTENCES = (
    "What would you like to know about the weather in April?",
    "I bought a lovely old car from a man in Oregon.",
    "Could you tell me how far it is to the harbour?",
    "Our father often walks along the river at dawn.",
    "Alice thought the lawn was far too large to mow.",
    "Hello, how are you doing today, my friend?",
)


class _Recorder(AudioMouthTracker):
    """The tracker, noting each voiced frame's openness inputs as it makes the frame."""

    def __init__(self) -> None:
        super().__init__(FPS, NATURAL)
        self.seen: list[tuple[int, np.ndarray]] = []

    def _openness_inputs(self, k, f, loudest_near, f2_mid, bright_mid):
        x = super()._openness_inputs(k, f, loudest_near, f2_mid, bright_mid)
        self.seen.append((k, x))
        return x

    def _openness(self, inputs):
        return 0.5  # (what it says changes no later frame's inputs)


def voiced_frames(speech) -> list[tuple[np.ndarray, float, float]]:
    """(inputs, expected openness, F1's openness) for each voiced frame inside a phone of `speech`."""
    recorder = _Recorder()
    feats = audio_features(speech.audio, FPS)
    recorder.add(feats)
    recorder.frames(final=True)
    out = []
    for k, x in recorder.seen:
        t = (k + 0.5) / FPS
        phone = next((p for p in speech.phones if p.start <= t < p.end), None)
        if phone is not None:
            out.append((x, expected_openness(phone.symbol), _f1_openness(feats, k)))
    return out


def _f1_openness(feats: list, k: int) -> float:
    """The rule the network replaced, with the whole utterance known: F1 between its 10th and 90th
    percentiles (the tracker takes the speaker's so far)."""
    f1 = [f.f1 for f in feats if f.voicing >= 0.5 and f.f1]
    if not feats[k].f1 or not f1:
        return 0.3
    lo, hi = np.percentile(f1, 10), np.percentile(f1, 90)
    return float(np.clip((feats[k].f1 - lo) / max(150.0, hi - lo), 0.0, 1.0))


def _job(args: tuple[str, str, int | None]) -> list[tuple[np.ndarray, float, float]]:
    """The voiced frames of `text` in `voice`, heard through a random room seeded by the last item
    (as synthesized if None)."""
    voice, text, room_seed = args
    speech = pad_speech(synthesize(parse_voice(voice), text))
    if room_seed is not None:
        rng = np.random.default_rng(room_seed)
        heard = through_room(speech.audio.samples, speech.audio.rate, random_room(rng), rng)
        speech = Speech(Audio(heard, speech.audio.rate), speech.phones, speech.text)
    return voiced_frames(speech)


def dataset(pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Each pair as synthesized and through a room of its own (a phone's or a laptop's recording)."""
    jobs = [(v, s, None) for v, s in pairs] + [(v, s, seed) for seed, (v, s) in enumerate(pairs)]
    with ProcessPoolExecutor() as pool:
        rows = [r for rs in pool.map(_job, jobs) for r in rs]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def check(network_path: Path, recordings: list[str]) -> None:
    from livehuman.bench.lipsync_matrix import voice_take

    network = load_closure_model(path=str(network_path))
    takes = [(v, pad_speech(synthesize(parse_voice(v), SENTENCES[i % len(SENTENCES)])))
             for i, v in enumerate(LIPSYNC_VOICES)]
    takes += [(Path(path).name, voice_take(parse_voice(f"wav:{path}"), 0, LipsyncOptions()).speech) for path in recordings]
    print("voiced frames' openness against the expected (correlation): F1 alone → the network")
    for name, speech in takes:
        rows = voiced_frames(speech)
        x, want, f1 = (np.array([r[i] for r in rows]) for i in range(3))
        print(f"  {name:32s} {len(rows):4d} frames   {np.corrcoef(f1, want)[0, 1]:6.3f} → "
              f"{np.corrcoef(network.probability(x), want)[0, 1]:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the network (at --out)")
    parser.add_argument("--out", help="where the network is written (default: src/livehuman/data/openness.npz)")
    parser.add_argument("recordings", nargs="*", help="natural recordings (WAV) to check on as well")
    args = parser.parse_args()
    out = Path(args.out or Path(__file__).resolve().parents[1] / "src/livehuman/data" / OPENNESS_FILE)
    if not args.check:
        voices = NATURAL_TRAIN_VOICES + TRAIN_VOICES
        x, want = dataset([(v, s) for v in voices for s in TRAIN_SENTENCES + OPEN_SENTENCES])
        print(f"training on {len(x)} voiced frames", file=sys.stderr)
        train(x, want).save(out, voices=",".join(voices))
    check(out, args.recordings)


if __name__ == "__main__":
    main()
