#!/usr/bin/env python
"""A thinking pause the brain took for the end of the turn: is the whole question answered? (issue 14)

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_going_on.py [MODES] [VOICES] [unpaused]`
(MODES: comma-separated end-of-turn modes, default `vad,model`; VOICES: which of the voices below, `0,1,2,3`;
`unpaused`: the same questions said without the pause, for what the recognizer allows;
`natural CLIP.wav …`: natural recordings with a pause put in mid-sentence, see `natural`).
The offline brain as `serve` makes it, fed probe_turns.py's paused questions (a sentence cut where its
first half ends, 500-900 ms of silence, the rest) at real-time pace, once as it is and once with going
on turned off (GO_ON_MS = -1, the code before). For each: whether the turn ended in the pause, and
whether the avatar's last answer is the answer the whole question gets when typed. ~5 s a question.
"""
import asyncio
import inspect
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from probe_turns import PAUSED, PAUSES, RATE, halves, silence  # noqa: E402

from livehuman.brain import local  # noqa: E402
from livehuman.brain.dialogue import Dialogue  # noqa: E402
from livehuman.brain.speech_events import ReplyDone, ReplyTranscriptDone, UserTranscriptDone  # noqa: E402
from livehuman.live.server import local_brain_factory  # noqa: E402

VOICES = [("festival", "ked", 1.0, None), ("festival", "kal", 1.0, None), ("espeak", "en-us", 160, 50),
          ("flite", "slt")]


async def ask(factory, audio: np.ndarray) -> tuple[int, int, str, str]:
    """The user's turns, whether they went on, the words the last answer answered, and its text."""
    brain = factory()
    if inspect.isawaitable(brain):  # serve's factory builds the dialogue first
        brain = await brain
    events: list = []

    async def run():
        async for event in brain.events():
            events.append(event)

    task = asyncio.get_running_loop().create_task(run())
    for i in range(0, len(audio), 320):
        await brain.push_audio(audio[i : i + 320], RATE)
        await asyncio.sleep(0.02)
    for _ in range(100):  # all of it heard, and the last turn answered
        heard = brain.listener.heard_ms >= len(audio) * 1000 // RATE - 40
        if heard and isinstance(events[-1] if events else None, ReplyDone) and not brain.listener.speaking:
            break
        await asyncio.sleep(0.05)
    await brain.close()
    task.cancel()
    turns = sum(isinstance(e, UserTranscriptDone) for e in events)
    answers = [e.transcript for e in events if isinstance(e, ReplyTranscriptDone)]
    asked = [m["content"] for m in brain.dialogue.history if m["role"] == "user"]
    return turns, brain.went_on, asked[-1] if asked else "", answers[-1] if answers else ""


async def counted(factory, audio: np.ndarray, go_on_ms: int, said: str, tally: dict) -> tuple[int, int, str, str]:
    """`ask`, with going on at `go_on_ms` (-1: off, the code before), counted into `tally`."""
    local.GO_ON_MS = go_on_ms
    turns, went_on, asked, answer = await ask(factory, audio)
    tally["n"] += 1
    tally["cut"] += turns > 1
    tally["went_on"] += went_on
    tally["recall"] += recall(said, asked)
    return turns, went_on, asked, answer


def recall(said: str, heard: str) -> float:
    """The share of the words said that are in what was heard."""
    words = re.findall(r"[a-z']+", said.lower())
    got = re.findall(r"[a-z']+", heard.lower())
    return sum(w in got for w in words) / len(words)


async def main(modes="vad,model", voices="0,1,2,3", unpaused=""):
    voices = [VOICES[int(i)] for i in voices.split(",")]
    typed = {}
    for mode in modes.split(","):
        factory = local_brain_factory(end_of_turn=mode, asr_processes=False)
        await asyncio.to_thread(factory.warm_up)
        tally = {name: {"cut": 0, "went_on": 0, "whole": 0, "n": 0, "recall": 0.0} for name in ("before", "now")}
        if unpaused:
            del tally["before"]
        for vi, voice in enumerate(voices):  # (the pause each question gets: as probe_turns.py)
            for k, (prefix, rest) in enumerate(PAUSED):
                whole = f"{prefix} {rest}"
                if whole not in typed:
                    typed[whole] = Dialogue(knowledge=factory.knowledge).respond(whole)
                first, second = halves(prefix, rest, voice, "cut")
                pause = 0.0 if unpaused else PAUSES[(k + vi) % len(PAUSES)]
                audio = np.concatenate([silence(0.3), first, silence(pause), second, silence(2.6)])  # (past the longest wait)
                for name, go_on in (("now", 1500),) if unpaused else (("before", -1), ("now", 1500)):
                    answer = (await counted(factory, audio, go_on, whole, tally[name]))[3]
                    tally[name]["whole"] += answer == typed[whole]
            print(mode, voice, tally, flush=True)
        factory.close()
        for name, t in tally.items():
            print(f"{mode} {name}: {t['cut']}/{t['n']} turns ended in the pause, {t['went_on']} went on; "
                  f"the last answer is the typed whole question's: {t['whole']}/{t['n']}; the question's words "
                  f"in what it answered: {t['recall'] / t['n']:.0%}", flush=True)


async def natural(paths: list[str], pause: float = 0.7) -> None:
    """Natural recordings (`natural CLIP.wav …`): each cut after the words a third and two thirds of
    the way through, `pause` s of silence put in, the rest of the recording after it; `auto` mode.
    The reference words are the recording's .txt beside it, else what the aligner heard."""
    from livehuman.bench.alignment import align_words
    from livehuman.speech.audio import load_audio, resample

    factory = local_brain_factory(end_of_turn="auto", asr_processes=False)
    await asyncio.to_thread(factory.warm_up)
    tally = {name: {"cut": 0, "went_on": 0, "n": 0, "recall": 0.0} for name in ("before", "now")}
    for path in paths:
        audio = resample(load_audio(path), RATE)
        samples = audio.samples.astype(np.float32)
        aligned, heard = align_words(audio)
        text = Path(path).with_suffix(".txt")
        said = text.read_text() if text.exists() else heard
        for word in (aligned[len(aligned) // 3], aligned[2 * len(aligned) // 3]):
            k = int(round((word.end + 0.01) * RATE))
            clip = np.concatenate([silence(0.3), samples[:k], silence(pause), samples[k:], silence(2.6)])
            for name, go_on in (("before", -1), ("now", 1500)):
                turns, went_on, asked, _ = await counted(factory, clip, go_on, said, tally[name])
                print(f"{Path(path).name} after {word.word!r} {name}: turns {turns}, went on {went_on}, "
                      f"answered {asked!r}", flush=True)
    factory.close()
    for name, t in tally.items():
        print(f"natural {name}: {t['cut']}/{t['n']} turns ended in the pause, {t['went_on']} went on; the "
              f"words in what it answered: {t['recall'] / t['n']:.0%}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["natural"]:
        asyncio.run(natural(sys.argv[2:]))
    else:
        asyncio.run(main(*sys.argv[1:]))
