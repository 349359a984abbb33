"""Put Smart Turn v3.2's ONNX model (BSD-2-Clause, from the pipecat-ai wheel) where livehuman finds it.

Downloads the pinned pipecat-ai wheel (no dependencies, nothing installed) and copies two members
out of it: the model and the wheel's licence. livehuman never imports pipecat.
Usage: python scripts/extract_turn_model.py DEST_DIR
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "pipecat-ai==1.14.0"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"


def main(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob("pipecat_ai-*.whl")
        with zipfile.ZipFile(wheel) as z:
            licence = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
            (dest / "smart-turn-LICENSE.txt").write_bytes(z.read(licence))
            part = dest / (Path(MEMBER).name + ".partial")
            part.write_bytes(z.read(MEMBER))
            part.rename(dest / Path(MEMBER).name)  # never a half-written model


if __name__ == "__main__":
    main(Path(sys.argv[1]))
