"""The lip-sync benchmark's matrix, voices and self-reenactment, on tiny real inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from livehuman.bench.lipsync_matrix import plot_matrix, run_matrix
from livehuman.bench.options import LipsyncOptions, LipsyncTargets, from_args
from livehuman.bench.voices import parse_voice
from livehuman.errors import LivehumanError


def test_voice_names_parse_and_bad_ones_fail_in_one_line():
    v = parse_voice("espeak:en-us@260/90")
    assert (v.kind, v.voice, v.wpm, v.pitch, v.label) == ("espeak", "en-us", 260, 90, "en-us 260/90")
    assert parse_voice("espeak:en-gb").name == "espeak:en-gb@175/50"
    assert parse_voice("flite:slt").label == "flite slt"
    for bad in ("flite:nope", "wav:/no/such.wav", "klingon", "espeak:en-us@fast", "espeak:xx-yy", "espeak:en-us@999/50"):
        with pytest.raises(LivehumanError) as err:
            parse_voice(bad)
        assert "\n" not in str(err.value)


def test_cli_options_fall_back_to_the_dataclass_defaults():
    import argparse

    args = argparse.Namespace(faces="default, astronaut", voices=None, natural=None, real_video=None, plot=None)
    options = from_args(LipsyncOptions, args)
    assert options.faces == ("default", "astronaut")
    assert options.voices == LipsyncOptions().voices


@pytest.fixture(scope="module")
def tiny():
    options = LipsyncOptions(faces=("default",), voices=("espeak:en-us@260/90", "flite:kal"), progress=False)
    return run_matrix(options)


def test_tiny_matrix_reports_every_cell_the_mean_and_the_worst(tiny, tmp_path):
    assert [(c.face, c.voice) for c in tiny.cells] == [("default", "en-us 260/90"), ("default", "flite kal")]
    for cell in tiny.cells:
        assert cell.score.undetected == 0
        assert all(not math.isnan(v) for v in cell.figures.values())
        # the render moves: open vowels show a visibly open mouth
        assert cell.score.open_median_gap > 0.05
    figures = [c.figures for c in tiny.cells]
    for key, mean in tiny.mean().items():
        assert mean == pytest.approx(np.mean([f[key] for f in figures]))
    worst = tiny.worst()
    assert worst["open_vs_closure"] == min(f["open_vs_closure"] for f in figures)
    assert worst["silence_open"] == max(f["silence_open"] for f in figures)
    margins = [c.margin(tiny.targets) for c in tiny.cells]
    assert tiny.worst_cell() is tiny.cells[int(np.argmin(margins))]
    # a cell passes exactly when every figure meets its target
    t = tiny.targets
    for c, f in zip(tiny.cells, figures):
        meets = (f["open_vs_closure"] >= t.open_vs_closure and f["closure_closed"] >= t.closure_closed
                 and f["corr_within_20ms"] >= t.corr_within_20ms and f["silence_open"] <= t.silence_open)  # fmt: skip
        assert c.passes(t) == meets
    summary = json.loads(json.dumps(tiny.as_dict()))
    assert summary["worst_cell"] == f"{tiny.worst_cell().face} x {tiny.worst_cell().voice}"
    assert summary["cells_passing"] == f"{sum(c.passes(t) for c in tiny.cells)}/2"
    plot = tmp_path / "matrix.png"
    plot_matrix(tiny, plot)
    assert 5_000 < plot.stat().st_size < 300_000


def test_stricter_targets_make_the_same_cells_fail(tiny):
    strict = LipsyncTargets(open_vs_closure=1.01)
    assert not any(c.passes(strict) for c in tiny.cells)
    assert all(c.margin(strict) < 0 for c in tiny.cells)


def test_unknown_face_fails_before_any_work():
    with pytest.raises(LivehumanError, match="unknown face"):
        run_matrix(LipsyncOptions(faces=("no-such-face",), voices=("flite:slt",), progress=False))
    with pytest.raises(LivehumanError, match="one face and one voice"):
        LipsyncOptions(faces="", voices=("flite:slt",))


def test_self_reenactment_finds_a_mouth_driven_by_its_own_soundtrack(tmp_path):
    """A talking video rendered from exact phones, then driven by its soundtrack alone: the rendered
    lips follow the source's at lag 0 (a misaligned comparison would show a lag or a low r)."""
    from livehuman.avatar.cache import load_avatar
    from livehuman.bench.lipsync import pad_speech
    from livehuman.bench.reenact import reenact
    from livehuman.render.batch import render_video
    from livehuman.render.engines import make_engine
    from livehuman.speech.espeak import EspeakTTS

    engine = make_engine("cpu")
    speech = pad_speech(EspeakTTS("en-us").synthesize("Bob bought a big map of Paris, and my mother paid."), 0.4)
    video = tmp_path / "talking.mp4"
    render_video(load_avatar("default", progress=False), engine, speech, video, head_motion=False, progress=False)
    result = reenact(video, engine=engine, progress=False)
    assert result.frames >= 50
    assert np.isnan(result.real_gap).sum() == 0 and np.isnan(result.rendered_gap).sum() == 0
    assert result.corr_within_40ms >= 0.6
    assert abs(result.best_lag_ms) <= 40
    # The source's lips open while it speaks and follow its loudness: the soundtrack's speech/silence
    # and loudness alone follow them (0.54 and 0.72 when measured), and so do the rendered lips
    # within speech (0.74).
    assert result.speech_oracle_within_40ms >= 0.3
    assert result.loudness_within_40ms >= 0.4 and result.speech_frames_within_40ms >= 0.4


def test_reenactment_refuses_a_photo_and_a_missing_file(tmp_path):
    from livehuman.avatar.default import grace_hopper_path
    from livehuman.bench.reenact import reenact

    with pytest.raises(LivehumanError):
        reenact(tmp_path / "missing.mp4", progress=False)
    with pytest.raises(LivehumanError):
        reenact(grace_hopper_path(), progress=False)


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--voices", "flite:nope"], "flite:nope"), (["--voices", "espeak:xx-yy"], "xx-yy"),
     (["--faces", "nobody", "--voices", "flite:slt"], "nobody"),
     (["--real-video", "/no/such/clip.mp4"], "/no/such/clip.mp4")],
)  # fmt: skip
def test_cli_refuses_bad_matrix_arguments_in_one_line(args, named):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "livehuman.cli", "bench", "lipsync", *args],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and named in lines[0] and lines[0].startswith("livehuman"), result.stderr[-500:]


def test_an_espeak_voice_says_a_sentence_the_same_whatever_was_said_before():
    """espeak-ng keeps state between calls: after this sentence in en-us+f3, another voice's sentence
    came out 2 % longer in the same process. The benchmark's voices speak in a fresh process."""
    from livehuman.bench.voices import synthesize
    from livehuman.speech.espeak import EspeakTTS

    spec = parse_voice("espeak:en-gb-scotland@160/50")
    sentence = "My mother paid a lot for the cheap pub lunch. Who knew the moon was so bright above the bay?"
    first = synthesize(spec, sentence)
    list(EspeakTTS("en-us+f3").sentences("livehuman is an open-source realtime talking digital human."))
    again = synthesize(spec, sentence)
    assert np.array_equal(first.audio.samples, again.audio.samples)
    assert [p.symbol for p in first.phones] == [p.symbol for p in again.phones]


def test_a_recording_degraded_as_a_cheap_chain_gives_it_keeps_the_clean_ones_reference(tmp_path):
    from livehuman.bench.lipsync_matrix import voice_specs
    from livehuman.bench.voices import recording, voice_level
    from livehuman.speech.audio import save_wav
    from livehuman.speech.festival import festival_speech
    from livehuman.speech.hum import find_hum, for_listening

    text = "Bob will pay more for the big map."
    wav = tmp_path / "kal+1.wav"  # (a "+" of the file's own name is not a degradation)
    save_wav(wav, festival_speech(text, "kal").audio)
    wav.with_suffix(".txt").write_text(text)
    options = LipsyncOptions(faces=("default",), voices=(), natural=(str(wav),), degrade="hum60,offset,hiss20")
    specs = voice_specs(options)
    assert [s.label for s in specs] == ["kal+1", "kal+1 +hum60", "kal+1 +offset", "kal+1 +hiss20"]
    clean, hum, offset, hiss = (recording(s) for s in specs)
    for take in (hum, offset, hiss):
        assert take.phones == clean.phones  # (aligned on the clean recording)
        assert not np.array_equal(take.audio.samples, clean.audio.samples)
    assert find_hum(hum.audio.samples.astype(np.float64)).mains == 60.0
    assert for_listening(clean.audio)[1] is None
    assert np.mean(offset.audio.samples - clean.audio.samples) == pytest.approx(0.1, abs=0.005)
    noise = hiss.audio.samples - clean.audio.samples
    ratio = 20 * np.log10(np.sqrt(np.mean(noise.astype(np.float64) ** 2)) / voice_level(clean.audio.samples))
    assert ratio == pytest.approx(-20.0, abs=0.5)


def test_the_level_and_band_degradations_do_what_they_say():
    from livehuman.bench.voices import degraded
    from livehuman.speech.festival import festival_speech

    clean = festival_speech("Bob will pay more for the big map.", "kal").audio
    x = clean.samples.astype(np.float64)
    quiet = degraded(clean, "quiet").samples
    assert np.max(np.abs(quiet)) == pytest.approx(np.max(np.abs(x)) * 10 ** (-24 / 20), rel=1e-3)
    clipped = degraded(clean, "clipped").samples
    assert np.max(np.abs(clipped)) == pytest.approx(1.0) and np.mean(np.abs(clipped) >= 0.999) > 0.01
    phone = degraded(clean, "phone")
    assert phone.rate == clean.rate and len(phone.samples) == len(clean.samples)
    power = np.abs(np.fft.rfft(phone.samples.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(len(phone.samples), 1 / phone.rate)
    band = power[(hz > 300) & (hz < 3400)].sum()
    assert power[hz < 250].sum() < 1e-6 * band  # (kal's voice has a fifth of it under 250 Hz)
    assert power[hz > 3600].sum() < 1e-6 * band


def test_the_hiss_degradations_are_as_loud_and_as_coloured_as_they_say():
    from livehuman.bench.voices import degraded, voice_level
    from livehuman.speech.festival import festival_speech

    clean = festival_speech("Bob will pay more for the big map.", "kal").audio
    hz = np.fft.rfftfreq(len(clean.samples), 1 / clean.rate)
    for how, db, octaves in (("hiss30", -30.0, 2.0), ("pink20", -20.0, 1.0)):
        noise = degraded(clean, how).samples.astype(np.float64) - clean.samples
        assert 20 * np.log10(np.std(noise) / voice_level(clean.samples)) == pytest.approx(db, abs=0.5)
        power = np.abs(np.fft.rfft(noise)) ** 2
        # white noise has twice the power an octave up (a band twice as wide), pink the same
        octave_up = power[(hz >= 2000) & (hz < 4000)].sum() / power[(hz >= 1000) & (hz < 2000)].sum()
        assert octave_up == pytest.approx(octaves, rel=0.15)


def test_degrading_asks_for_known_degradations_of_natural_recordings():
    for bad in ({"natural": ("a.wav",), "degrade": "hum55"}, {"degrade": "hum50"}):
        with pytest.raises(LivehumanError) as err:
            LipsyncOptions(faces=("default",), **bad)
        assert "--degrade" in str(err.value) and "\n" not in str(err.value)
