"""`livehuman bench render`'s timing of the cpu engine alone."""

from __future__ import annotations

import pytest

from livehuman.avatar.photo import photo_avatar
from livehuman.bench.render import bench_engine


def test_the_engine_bench_counts_the_frames_it_timed(grace_hopper_path, tmp_path):
    result = bench_engine(photo_avatar(grace_hopper_path, tmp_path), seconds=0.3)
    assert result["engine"] == "cpu" and result["threads"] == 1 and result["frames"] > 0
    assert result["seconds"] >= 0.3
    assert result["fps"] == pytest.approx(result["frames"] / result["seconds"], rel=0.01)
    assert result["ms_per_frame"] == pytest.approx(1000 / result["fps"], rel=0.01)
    # the thread's CPU time: some of the wall-clock time, never more (one thread)
    assert 0 < result["cpu_ms_per_frame"] <= result["ms_per_frame"] * 1.01
    assert result["fps_per_cpu_second"] == pytest.approx(1000 / result["cpu_ms_per_frame"], rel=0.01)


def test_the_video_avatar_bench_renders_the_whole_speech_by_a_moving_face(tmp_path):
    from livehuman.bench.render import bench_video_avatar
    from livehuman.speech.espeak import EspeakTTS

    speech = EspeakTTS().synthesize("Hello there, how are you today?")
    result = bench_video_avatar(speech, tmp_path, seconds=1.0)
    assert result["video avatar: source frames"] == 25
    assert result["video avatar: render from text, video seconds"] == pytest.approx(speech.audio.duration, abs=0.04)
    assert result["video avatar: render from text, realtime factor"] > 0
    assert (tmp_path / "video.mp4").stat().st_size > 0


def test_the_live_encoder_bench_times_both_encoders_on_the_same_frames(grace_hopper_path, tmp_path):
    from livehuman.bench.render import bench_live_encoder

    result = bench_live_encoder(photo_avatar(grace_hopper_path, tmp_path), seconds=0.4, runs=2)
    for encoder in ("aiortc's VP8 encoder", "the face's VP8 encoder"):
        assert result[f"live video, {encoder}: cpu ms per frame"] > 0
        # what arrives is the face as drawn, not noise: well above 30 dB either way
        assert 30 < result[f"live video, {encoder}: PSNR dB"] < 70
