"""The container image: built from the repository and answering its health check, where Docker runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


pytestmark = pytest.mark.skipif(not docker_answers(), reason="no Docker daemon answers on this machine: the image "
                                "is built and health-checked only where one runs (see docs/deploy.md)")


def test_the_image_builds_and_answers_its_health_check():
    tag = f"livehuman-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=3600)
    name = f"{tag}-run"
    try:
        subprocess.run(["docker", "run", "-d", "--name", name, "--shm-size", "1g", "-p", "127.0.0.1::8080", tag],
                       check=True, capture_output=True, timeout=60)
        port = subprocess.run(["docker", "port", name, "8080/tcp"], check=True, capture_output=True, text=True,
                              timeout=30).stdout.strip().rsplit(":", 1)[-1]
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
                    assert json.loads(response.read())["ok"] is True
                    break
            except OSError:
                assert time.monotonic() < deadline, "the container never answered /healthz"
                time.sleep(2)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
