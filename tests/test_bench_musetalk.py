"""`livehuman bench musetalk` and the script a GPU session runs, on tiny random weights on the CPU."""

from __future__ import annotations

import json

import pytest

from livehuman.bench.musetalk import GPU_RUN, bench_musetalk_from_args, flatten, main
from livehuman.bench.options import MuseTalkOptions
from livehuman.cli import build_parser
from livehuman.errors import LivehumanError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_the_cli_runs_the_bench_with_its_options():
    args = build_parser().parse_args(["bench", "musetalk", "--device", "cpu", "--dtype", "bfloat16",
                                      "--batch-sizes", "1,2", "--sessions", "2"])
    args.repeats, args.session_frames = 1, 4  # (no flags: fewer than the defaults, to keep the test short)
    flat = bench_musetalk_from_args(args)
    assert flat["dtype"] == "bfloat16" and flat["device"] == "cpu" and flat["compile"] is False
    assert flat["weights"] == "tiny-random"
    assert sorted(k for k in flat if k.endswith("_fps") and k.startswith("batch")) == [
        "batch1_fps", "batch1_unet_fps", "batch1_vae_fps", "batch2_fps", "batch2_unet_fps", "batch2_vae_fps"]
    assert flat["batch2_fps"] > 0 and flat["batch2_unet_ms"] > 0 and flat["batch2_vae_ms"] > 0
    assert flat["sessions2_fps"] > 0 and 1 <= flat["sessions2_mean_batch"] <= 2
    assert flat["first_frame_after_audio_ms"] > flat["lookahead_ms"]  # streamed at real-time pace


def test_flatten_names_each_row_by_its_batch_and_session_count():
    result = {"engine": "musetalk", "batches": [{"batch_size": 4, "fps": 9.5, "unet_ms": 3.0}],
              "shared": [{"sessions": 2, "fps": 7.0, "batch_sizes": {"2": 3}}]}
    assert flatten(result) == {"engine": "musetalk", "batch4_fps": 9.5, "batch4_unet_ms": 3.0, "sessions2_fps": 7.0}


@pytest.mark.slow
def test_the_gpu_script_writes_json_lines(tmp_path, capsys):
    out = tmp_path / "bench.jsonl"
    assert main(["--device", "cpu", "--batch-sizes", "1", "--sessions", "", "--repeats", "1",
                 "--compile", "no", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["device"] == "cpu" and rows[0]["batches"][0]["batch_size"] == 1
    assert rows[0]["shared"] == [] and "date" in rows[0] and "torch" in rows[0]
    printed = capsys.readouterr().out
    assert "musetalk v15 (tiny-random weights) on cpu" in printed and "first frame after the first audio" in printed


def test_the_gpu_run_differs_from_the_defaults_only_where_it_says():
    assert GPU_RUN == MuseTalkOptions(sessions=(1, 4, 8), session_frames=50, repeats=5)
    assert (GPU_RUN.batch_sizes, GPU_RUN.device, GPU_RUN.compile) == (MuseTalkOptions().batch_sizes, "auto", False)


def test_bad_options_are_livehuman_errors():
    with pytest.raises(LivehumanError, match="batch sizes must be whole numbers"):
        MuseTalkOptions(batch_sizes="1,x")
    with pytest.raises(LivehumanError, match="at least 1"):
        MuseTalkOptions(batch_sizes="0,4")
    with pytest.raises(LivehumanError, match="--repeats"):
        MuseTalkOptions(repeats=0)
