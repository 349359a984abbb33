"""Every benchmark's options, typed, with the one set of defaults every entry point uses.

`livehuman bench X` and `python -m livehuman.bench.X` build these from their arguments with
`from_args`: a flag left out takes the default written here (the CLI's flags default to None and
their help quotes these defaults), so the same bench measures the same thing however it is started.
Bad values fail here, as one LivehumanError line, before any measuring starts. Standard library
only: the CLI imports this module to build its help.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

from livehuman.brain.turn_end import MODES
from livehuman.errors import LivehumanError
from livehuman.rates import FPS

T = TypeVar("T")


@dataclass
class RenderOptions:
    """`livehuman bench render`: the cpu engine alone, then whole renders from audio and from text."""

    seconds: float = 10.0  # length of the speech rendered (and of the engine's timing)

    def __post_init__(self) -> None:
        _positive("bench render", "--seconds", self.seconds)


@dataclass
class LiveOptions:
    """`livehuman bench live`: real aiortc clients against a live server in a child process."""

    turns: int = 8  # questions asked by voice, each also barged into
    max_sessions: int = 4  # most simultaneous talking sessions tried
    seconds: float = 10.0  # how long each number of sessions is held
    drift_minutes: float = 0.0  # with more than 0: one talking session held this long, for A/V drift
    render_workers: int | None = None  # the server's render processes (None: one per core)
    barge_in_ms: int | None = None  # the server's `serve --barge-in-ms` (None: its default)
    end_of_turn: str = "auto"  # the server's `serve --end-of-turn`
    # asked in turn instead of espeak-ng's questions: recordings (WAV), or voices (bench/voices.py's
    # espeak:…, flite:…, festival:…) saying the bench's questions
    questions: tuple[str, ...] = ()
    avatar: str = "default"
    plot: str | None = None  # a PNG of the latencies and sessions against the targets

    def __post_init__(self) -> None:
        if self.turns < 1 or self.max_sessions < 1:
            raise LivehumanError("bench live needs --turns and --max-sessions of at least 1")
        if self.end_of_turn not in MODES:
            raise LivehumanError(f"bench live's --end-of-turn is one of {', '.join(MODES)}, not {self.end_of_turn!r}")
        self.questions = _names(self.questions)
        from livehuman.bench.voices import SYNTHETIC_VOICE_PREFIXES, parse_voice

        for name in self.questions:
            if name.startswith(SYNTHETIC_VOICE_PREFIXES):
                parse_voice(name)  # one line for a voice that is not one
            elif not Path(name).is_file():
                raise LivehumanError(f"bench live: no such recording to ask: {name!r}")
        if self.drift_minutes < 0:
            raise LivehumanError("bench live needs --drift-minutes of 0 (no drift run) or more")
        _positive("bench live", "--seconds", self.seconds)
        # Found out now, not after minutes of measuring.
        if self.plot and not Path(self.plot).resolve().parent.is_dir():
            raise LivehumanError(f"cannot write the plot to {self.plot}: its folder does not exist")


@dataclass
class ClusterOptions:
    """`livehuman bench cluster`: serve --cluster on namespaces of this computer (bench/cluster.py)."""

    offers: int = 12  # visits timed at the lone server and at the front door, one after another
    places: int = 3  # sessions each node (and the lone server) takes
    ray_defaults: bool = False  # Ray's own health checks instead of bench/lan.py's quick ones

    def __post_init__(self) -> None:
        if self.offers < 2 or self.places < 2:
            raise LivehumanError("bench cluster needs --offers and --places of at least 2")


@dataclass
class SoakOptions:
    """`livehuman bench soak`: K clients talking, hanging up and coming back for N minutes."""

    minutes: float = 2.0
    sessions: int = 2  # clients at once (--sessions takes one number here)
    in_a_row: int = 0  # instead of talking: this many sessions opened and closed one after another
    render_workers: int | None = None
    avatar: str = "default"
    plot: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sessions, str):
            numbers = whole_numbers(self.sessions, "--sessions")
            if len(numbers) != 1:
                raise LivehumanError("bench soak takes one number of --sessions, e.g. --sessions 4")
            self.sessions = numbers[0]
        if self.sessions < 1:
            raise LivehumanError("bench soak needs --sessions of at least 1")
        _positive("bench soak", "--minutes", self.minutes)
        if self.in_a_row < 0:
            raise LivehumanError("bench soak needs --in-a-row of 0 (talk instead) or more")
        if self.plot and not Path(self.plot).resolve().parent.is_dir():
            raise LivehumanError(f"cannot write the plot to {self.plot}: its folder does not exist")


@dataclass
class MuseTalkOptions:
    """`livehuman bench musetalk`: frames per second per batch size, stage times, first-frame latency."""

    models: str | None = None  # MuseTalk's models/ directory; None: random weights in its layout
    full_size: bool = False  # without models: random weights of the real networks' sizes (else tiny)
    device: str = "auto"
    dtype: str | None = None  # None: float16 on a GPU, float32 on the CPU
    compile: bool | str = False  # torch.compile the UNet and the VAE decoder (True: inductor)
    batch_sizes: tuple[int, ...] = (1, 4, 8, 16)
    sessions: tuple[int, ...] = ()  # numbers of threads sharing the engine, as live sessions
    repeats: int = 3
    session_frames: int = 25  # frames each shared-engine thread renders
    latency: bool = True  # time the first frame after the first audio sample
    image: str | None = None  # the portrait (default: Grace Hopper)
    landmarks: str | None = None  # its landmarks saved earlier, for a machine without mediapipe

    def __post_init__(self) -> None:
        self.batch_sizes = whole_numbers(self.batch_sizes, "batch sizes")
        self.sessions = whole_numbers(self.sessions, "session counts")
        if not self.batch_sizes or min(self.batch_sizes) < 1 or min(self.sessions, default=1) < 1:
            raise LivehumanError("bench musetalk needs batch sizes (and session counts) of at least 1")
        if self.repeats < 1 or self.session_frames < 1:
            raise LivehumanError("bench musetalk needs --repeats and --session-frames of at least 1")


@dataclass
class PrepareOptions:
    """`livehuman bench prepare`: `livehuman prepare` of a face video, each run in a fresh process."""

    seconds: float = 10.0  # length of the face video
    fps: float = float(FPS)
    runs: int = 3  # the best run is reported (the cores are shared)

    def __post_init__(self) -> None:
        _positive("bench prepare", "--seconds", self.seconds)
        _positive("bench prepare", "--fps", self.fps)
        if self.runs < 1:
            raise LivehumanError("bench prepare needs --runs of at least 1")


@dataclass
class PhonesOptions:
    """`livehuman bench phones`: how well pocketsphinx's phones time the mouth, against flite's truth."""

    sweep: bool = False  # also search decoder settings on the tuning half of the sentences


@dataclass
class RealtimeOptions:
    """`livehuman bench realtime`: the offline brain's turn latency over /v1/realtime, through the openai SDK."""

    silence_ms: int = 500  # server_vad's silence_duration_ms
    fast_asr: bool = False  # skip pocketsphinx's second pass

    def __post_init__(self) -> None:
        if self.silence_ms < 0:
            raise LivehumanError("bench realtime needs --silence-ms of 0 or more")


@dataclass(frozen=True)
class LipsyncTargets:
    """Issue 15's targets for `livehuman bench lipsync`, met on every cell (audio-only path)."""

    open_vs_closure: float = 0.9  # at least: P(open-vowel gap > P/B/M gap)
    closure_closed: float = 0.8  # at least: share of P/B/M frames shut
    corr_within_20ms: float = 0.75  # at least: gap against the phones' expected openness
    silence_open: float = 0.15  # at most: 90th-percentile gap in silence / open-vowel median


# espeak-ng at three rates and three pitches and three other English voices; every flite voice with
# usable segment times (`flite -lv` also lists awb_time, whose are broken: speech/flite.py); festival's
# two diphone voices (recorded speech joined: natural closures, exact timings), one faster and higher.
LIPSYNC_VOICES = (
    "espeak:en-us@120/50", "espeak:en-us@175/50", "espeak:en-us@260/50",
    "espeak:en-us@175/20", "espeak:en-us@175/90", "espeak:en-us@260/90",
    "espeak:en-gb@175/50", "espeak:en-us+f3@175/50", "espeak:en-gb-scotland@200/70",
    "flite:kal", "flite:kal16", "flite:slt", "flite:rms", "flite:awb",
    "festival:ked", "festival:kal@0.8/200",
)  # fmt: skip


@dataclass
class LipsyncOptions:
    """`livehuman bench lipsync`: faces x voices through the audio-only path (bench/lipsync_matrix.py),
    or with `real_video` a talking video driven by its own soundtrack (bench/reenact.py)."""

    faces: tuple[str, ...] = ("default", "astronaut", "open_at_rest", "laugh", "small_smile", "small_closed", "turned", "occluded")
    voices: tuple[str, ...] = LIPSYNC_VOICES
    natural: tuple[str, ...] = ()  # natural recordings (WAV paths) that join the voices
    degrade: tuple[str, ...] = ()  # each natural recording also as a cheap chain gives it (bench/voices.py)
    real_video: str | None = None
    plot: str | None = None
    mode: str = "audio"  # "audio": the motion stage hears the audio only; "text": it gets the phones
    fps: float = float(FPS)
    targets: LipsyncTargets = LipsyncTargets()
    progress: bool = True

    def __post_init__(self) -> None:
        self.faces = _names(self.faces)
        self.voices = _names(self.voices)
        self.natural = _names(self.natural)
        self.degrade = _names(self.degrade)
        from livehuman.bench.voices import DEGRADATIONS

        unknown = [d for d in self.degrade if d not in DEGRADATIONS]
        if unknown:
            raise LivehumanError(f"bench lipsync cannot --degrade {unknown[0]!r}: choose from {', '.join(DEGRADATIONS)}")
        if self.degrade and not self.natural:
            raise LivehumanError("bench lipsync's --degrade degrades the --natural recordings: give some")
        if self.mode not in ("audio", "text"):
            raise LivehumanError(f"bench lipsync's mode is audio or text, not {self.mode!r}")
        _positive("bench lipsync", "--fps", self.fps)
        if not self.real_video and (not self.faces or not self.voices + self.natural):
            raise LivehumanError("bench lipsync needs at least one face and one voice")
        if self.plot and not Path(self.plot).resolve().parent.is_dir():
            raise LivehumanError(f"cannot write the plot to {self.plot}: its folder does not exist")


def _names(value) -> tuple[str, ...]:
    """("a", "b") from "a,b", a list or a tuple."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(v).strip() for v in items if str(v).strip())


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """`cls` from parsed arguments: each field the arguments set (not None); the rest keep their defaults."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
    return cls(**given)


def whole_numbers(value, what: str) -> tuple[int, ...]:
    """(1, 4, 8) from "1,4,8", a list or a tuple ("" is none)."""
    try:
        if isinstance(value, str):
            return tuple(int(v) for v in value.split(",") if v.strip())
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise LivehumanError(f"{what} must be whole numbers separated by commas, not {value!r}") from None


def _positive(bench: str, flag: str, value: float) -> None:
    if not value > 0:
        raise LivehumanError(f"{bench} needs {flag} above 0, not {value:g}")
