"""Shared test set-up: every test run gets its own avatar cache, so nothing touches ~/.cache."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before any livehuman module reads it; the cache is shared by the whole run to prepare each face once,
# and removed after it (~40 MB a run).
_OWN_HOME = None if "LIVEHUMAN_HOME" in os.environ else tempfile.mkdtemp(prefix="livehuman-test-home-")
if _OWN_HOME:
    os.environ["LIVEHUMAN_HOME"] = _OWN_HOME
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SAMPLE_DIR = Path(__file__).parent

# Tests that need what an everyday run may not have are marked by what they use, so that
# `make test-fast` (-m "not slow and not netns and not browser") needs no list of files.
NEEDS = {"netns": "netns", "playwright": "browser", "firefox_path": "browser"}


def pytest_unconfigure(config):
    if _OWN_HOME:
        shutil.rmtree(_OWN_HOME, ignore_errors=True)


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in NEEDS.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(NEEDS[fixture])


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    """A real portrait with a closed mouth (matplotlib's sample photo, public domain)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    """A real photo of a smiling face with teeth showing (scikit-image's sample, public domain)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where tests leave pictures and videos for people to look at."""
    path = Path(__file__).resolve().parent.parent / "test-output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def netns():
    """A network namespace of this test module's own, entered for its whole run: WebRTC traffic
    (ICE included) never leaves it, and it is removed afterwards."""
    from livehuman.bench.netns import NetNamespace

    with NetNamespace() as ns, ns.entered():
        yield ns


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread: on a shared 2-core machine more threads spin against each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Tiny random MuseTalk weights in MuseTalk's own file layout and key names."""
    from livehuman.render.musetalk.tiny import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("models"), seed=0)
