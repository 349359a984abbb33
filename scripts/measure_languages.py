"""Chinese and Japanese text renders scored like `bench lipsync` (docs/benchmarks.md, "Languages").

Renders each sentence on the built-in face and the astronaut with the cpu engine, re-detects the
lips on every decoded frame, and prints one Markdown table row per render. Run from the repo:
`LIVEHUMAN_HOME=/tmp/lh-lang PYTHONPATH=src .venv/bin/python scripts/measure_languages.py OUTDIR`.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from livehuman.avatar.cache import load_avatar
from livehuman.bench.lipsync import SENTENCES as ENGLISH
from livehuman.bench.lipsync import face_source, measure_video, pad_speech, score
from livehuman.render.batch import render_video
from livehuman.render.engines import make_engine
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.phones import Phone

CASES = [
    ("cmn", "爸爸买了一百本书。妈妈不怕麻烦。"),
    ("cmn", "我们每天早上九点开门，晚上八点关门。"),
    ("ja", "ママとパパはバナナを三本買いました。"),
    ("ja", "毎日、朝九時から夜八時まで開いています。"),
    ("en-us", ENGLISH[0]),
]


def plain(symbol: str) -> str:
    """IPA without tone, lowering, length and other marks: the bench's reference classes are plain."""
    return "".join(ch for ch in unicodedata.normalize("NFD", symbol) if unicodedata.category(ch) not in ("Mn", "Lm", "Sk"))


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine("cpu")
    print("| face | voice | sentence | open > closure (AUC) | closures closed | corr lag 0 | silence max | round < spread | undetected |")
    for face in ("default", "astronaut"):
        avatar = load_avatar(face_source(face))
        for i, (voice, text) in enumerate(CASES):
            speech = pad_speech(EspeakTTS(voice).synthesize(text))
            out = out_dir / f"{face}_{i}.mp4"
            render_video(avatar, engine, speech, out, progress=False, head_motion=False, seed=0)
            s = score(measure_video(out), [Phone(plain(p.symbol), p.start, p.end) for p in speech.phones])
            print(f"| {face} | {voice} | {text[:20]} | {s.open_vs_closure:.2f} | {s.closure_closed:.2f} | "
                  f"{s.corr_lag0:.2f} | {s.silence_max_ratio:.3f} | {s.round_vs_spread:.2f} | {s.undetected} |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/languages"))
