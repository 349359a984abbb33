"""The benches' options: one set of defaults whatever the entry point, and bad values refused at once."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from livehuman.bench.options import (
    ClusterOptions,
    LiveOptions,
    MuseTalkOptions,
    PhonesOptions,
    PrepareOptions,
    RealtimeOptions,
    RenderOptions,
    SoakOptions,
    from_args,
)
from livehuman.cli import BENCHES, build_parser, main
from livehuman.errors import LivehumanError

OPTIONS = {"cluster": ClusterOptions, "render": RenderOptions, "live": LiveOptions, "musetalk": MuseTalkOptions, "prepare": PrepareOptions,
           "phones": PhonesOptions, "realtime": RealtimeOptions, "soak": SoakOptions}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_bench_run_without_flags_gets_the_options_defaults(name):
    assert from_args(OPTIONS[name], build_parser().parse_args(["bench", name])) == OPTIONS[name]()


def test_every_bench_has_its_module_and_every_option_its_flag():
    assert set(OPTIONS) | {"lipsync"} == set(BENCHES)
    flags = set(vars(build_parser().parse_args(["bench", "render"])))  # every flag of `livehuman bench`
    for name, cls in OPTIONS.items():
        settable = {f.name for f in fields(cls)} - {"avatar", "latency", "image", "landmarks", "repeats", "session_frames"}
        assert settable <= flags, (name, settable - flags)


def test_bench_live_takes_recorded_questions_and_the_end_of_turn_mode(tmp_path):
    wav = tmp_path / "question.wav"
    wav.write_bytes(b"")  # only its existence is checked here
    args = build_parser().parse_args(["bench", "live", "--end-of-turn", "model", "--questions", str(wav)])
    assert from_args(LiveOptions, args) == LiveOptions(end_of_turn="model", questions=(str(wav),))
    with pytest.raises(LivehumanError, match="no such recording to ask: .*missing.wav"):
        LiveOptions(questions=(str(tmp_path / "missing.wav"),))
    with pytest.raises(LivehumanError, match="--end-of-turn is one of vad, model, auto, not 'smart'"):
        LiveOptions(end_of_turn="smart")
    # A voice saying the bench's questions, beside a recording; a voice that is not one, in one line.
    args = build_parser().parse_args(["bench", "live", "--questions", "festival:kal@0.8/200", str(wav)])
    assert from_args(LiveOptions, args).questions == ("festival:kal@0.8/200", str(wav))
    with pytest.raises(LivehumanError, match="not a festival voice: 'festival:bob'"):
        LiveOptions(questions=("festival:bob",))


def test_flags_reach_the_options_and_the_rest_keep_their_defaults():
    args = build_parser().parse_args(["bench", "live", "--turns", "2", "--seconds", "3", "--drift-minutes", "0.5"])
    assert from_args(LiveOptions, args) == LiveOptions(turns=2, seconds=3.0, drift_minutes=0.5)
    args = build_parser().parse_args(["bench", "musetalk", "--batch-sizes", "2,4", "--sessions", "3", "--compile"])
    assert from_args(MuseTalkOptions, args) == MuseTalkOptions(batch_sizes=(2, 4), sessions=(3,), compile=True)
    # The same flag, each bench's own default.
    assert from_args(RenderOptions, build_parser().parse_args(["bench", "render"])).seconds == RenderOptions.seconds
    assert from_args(PrepareOptions, build_parser().parse_args(["bench", "prepare", "--seconds", "4"])).seconds == 4.0


@pytest.mark.parametrize("argv, message", [
    (["live", "--turns", "0"], "bench live needs --turns and --max-sessions of at least 1"),
    (["live", "--drift-minutes", "-1"], "bench live needs --drift-minutes of 0 (no drift run) or more"),
    (["live", "--questions", "flite:nobody"], "unknown flite voice 'nobody' in 'flite:nobody': choose one of "
     "kal, kal16, slt, rms, awb"),
    (["render", "--seconds", "0"], "bench render needs --seconds above 0, not 0"),
    (["prepare", "--runs", "0"], "bench prepare needs --runs of at least 1"),
    (["musetalk", "--batch-sizes", "1,x"], "batch sizes must be whole numbers separated by commas, not '1,x'"),
    (["realtime", "--silence-ms", "-5"], "bench realtime needs --silence-ms of 0 or more"),
    (["soak", "--minutes", "0"], "bench soak needs --minutes above 0, not 0"),
    (["soak", "--sessions", "2,4"], "bench soak takes one number of --sessions, e.g. --sessions 4"),
    (["soak", "--sessions", "0"], "bench soak needs --sessions of at least 1"),
])
def test_bad_options_are_one_line_before_any_measuring(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"livehuman: error: {message}"]


def test_python_m_runs_the_same_command(tmp_path):
    """`python -m livehuman.bench.live` takes `livehuman bench live`'s flags (and its checks)."""
    run = subprocess.run([sys.executable, "-m", "livehuman.bench.live", "--plot", str(tmp_path / "no" / "x.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"livehuman: error: cannot write the plot to {tmp_path}/no/x.png: its folder does not exist"]
