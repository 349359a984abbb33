"""Lip sync measured end to end: render, decode the MP4, re-detect the lips, compare with the phones.

The thresholds are issue 2's targets. Text renders get espeak-ng's exact phone timings; audio
renders see only the audio, from voices (flite's) and a face (the astronaut) that the motion and
engine code were not tuned on. The reference timings come from the voices themselves.
"""

from __future__ import annotations

import pytest

from livehuman.avatar.cache import load_avatar
from livehuman.bench.lipsync import LipSyncCase, face_source, run_case
from livehuman.render.engines import make_engine


@pytest.fixture(scope="module", autouse=True)
def own_avatars(tmp_path_factory):
    """Faces prepared here, from their sources: not an avatar another test left in the shared cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIVEHUMAN_HOME", str(tmp_path_factory.mktemp("lipsync-home")))
        yield


@pytest.fixture(scope="module")
def engine():
    return make_engine("cpu")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("lipsync")


def measure(case: LipSyncCase, engine, workdir):
    avatar = load_avatar(face_source(case.face))
    result, _, _ = run_case(case, avatar, engine, workdir)
    print(case, result)
    assert result.undetected == 0, "the face must stay detectable on every rendered frame"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("case", [LipSyncCase("default", "en-us", "text", 0), LipSyncCase("astronaut", "en-gb", "text", 1)], ids=str)
def test_text_render_follows_exact_phone_timings(case, engine, workdir):
    s = measure(case, engine, workdir)
    assert s.open_vs_closure >= 0.95
    assert s.closure_closed >= 0.90
    assert s.corr_lag0 >= 0.8
    assert s.silence_max_ratio < 0.25
    assert s.round_vs_spread >= 0.8


@pytest.mark.parametrize(
    "case",
    [LipSyncCase("default", "flite:slt", "audio", 0), LipSyncCase("astronaut", "flite:rms", "audio", 1), LipSyncCase("default", "en-us", "audio", 2)],
    ids=str,
)
@pytest.mark.slow
def test_audio_only_render_from_untuned_voices(case, engine, workdir):
    s = measure(case, engine, workdir)
    assert s.open_vs_closure >= 0.85
    assert s.closure_closed >= 0.60
    assert s.corr_within_40ms >= 0.6
    assert s.silence_max_ratio < 0.25
    assert s.round_vs_spread >= 0.8


def test_audio_only_fast_high_voice_on_an_open_smile_meets_issue_15s_targets(engine):
    """One cell of `bench lipsync`'s matrix: espeak-ng's formant voice, fast (220 wpm) and high
    (pitch 80), heard as audio only, on the astronaut's open smile. Issue 15's targets, every one."""
    from livehuman.bench.lipsync_matrix import run_matrix
    from livehuman.bench.options import LipsyncOptions

    options = LipsyncOptions(faces=("astronaut",), voices=("espeak:en-us@220/80",), progress=False)
    result = run_matrix(options, engine=engine)
    (cell,) = result.cells
    print(cell.face, cell.voice, cell.figures)
    assert cell.score.undetected == 0
    t = options.targets
    assert cell.figures["open_vs_closure"] >= t.open_vs_closure
    assert cell.figures["closure_closed"] >= t.closure_closed
    assert cell.figures["corr_within_20ms"] >= t.corr_within_20ms
    assert cell.figures["silence_open"] <= t.silence_open
    assert abs(cell.score.corr_best_lag_ms) <= 40, "no early or late bias beyond one frame"
