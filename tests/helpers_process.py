"""Running a test's scenario in a new Python process: a render forks its helpers (forks.Beside) only
from a process with no other thread, and the test process has threads that earlier tests left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TWO_CORES = len(os.sched_getaffinity(0)) >= 2  # (with one, no child is made: the work is done here)


def in_a_new_process(module: str, scenario: str, *args) -> dict:
    """`module.scenario(*args)` (a test module's function returning JSON), run in a new Python
    process (one thread, as a render's)."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import {module} as t; print(json.dumps(t.{scenario}(*{list(args)!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])
