"""`livehuman bench cluster`'s bad options fail in one line before any namespace is built. The
bench itself needs root and minutes (docs/benchmarks.md); its parts are tests/test_cluster.py's."""

import subprocess
import sys

import pytest

from livehuman.bench.options import ClusterOptions
from livehuman.errors import LivehumanError


@pytest.mark.parametrize("flags", [["--offers", "1"], ["--places", "0"]])
def test_bad_options_are_one_line_before_any_namespace(flags):
    done = subprocess.run([sys.executable, "-m", "livehuman.cli", "bench", "cluster", *flags],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "at least 2" in done.stderr


def test_defaults_are_valid_and_checked():
    assert ClusterOptions().offers >= 2
    with pytest.raises(LivehumanError):
        ClusterOptions(places=1)
