#!/usr/bin/env bash
# Installs everything livehuman needs on a Debian machine, idempotently:
# Debian packages, the virtual environment at .venv, and the package with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  espeak-ng libespeak-ng1   # TTS with phoneme timings (C API through ctypes)
  flite                     # a second, independent voice for tests and benchmarks
  festival festvox-kdlpc16k festvox-kallpc16k  # diphone voices (recorded speech, exact timings) for benchmarks
  ffmpeg sox                # media tools for checks and demos
  libgl1 libglib2.0-0       # needed by OpenCV's cv2 (pulled by mediapipe)
  iproute2                  # network namespaces for WebRTC tests
  g++                       # torch.compile's CPU backend compiles C++ (musetalk --compile, its test)
  chromium firefox-esr      # browser tests (Chromium through Playwright, Firefox through WebDriver BiDi)
  python3-venv
)

# A runtime image (the Dockerfile) needs neither the browsers, the compiler nor the benchmark voices of the test suite.
if [ "${LIVEHUMAN_RUNTIME_ONLY:-0}" = 1 ]; then
  DEBIAN_PACKAGES=($(printf '%s\n' "${DEBIAN_PACKAGES[@]}" | grep -vxE 'chromium|firefox-esr|g\+\+|festival|festvox-.*'))
fi

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi

# constraints.txt pins every package to the versions the tests last passed with (see its header);
# a change to it, to pyproject.toml or to this script installs again.
stamp=.venv/.livehuman-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] \
    || [ scripts/setup.sh -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv (a few minutes the first time)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e ".[all,test]"
  # silero-vad declares torch as a dependency, but we only use its ONNX model (through onnxruntime).
  .venv/bin/pip install -q -c constraints.txt --no-deps silero-vad
  touch "$stamp"
fi

# A TURN server for the relay test (tests/test_live_turn.py): coturn's binary, unpacked from Debian's
# package with the libraries it needs; installing the package would start a TURN daemon here.
coturn=.venv/share/livehuman/test-tools/coturn
turnserver=$coturn/usr/bin/turnserver
if [ "${LIVEHUMAN_RUNTIME_ONLY:-0}" != 1 ] && [ ! -x "$turnserver" ]; then
  echo "setup: unpacking coturn's turnserver for the TURN relay test"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  apt-cache show coturn >/dev/null 2>&1 || $SUDO apt-get update -qq
  libraries=$(apt-cache depends coturn | awk '/Depends: lib/ {print $2}')
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $libraries >/dev/null
  download=$(mktemp -d)
  chmod 777 "$download"  # apt's download user writes there
  (cd "$download" && apt-get download -qq coturn 2>/dev/null)
  mkdir -p "$coturn"
  dpkg -x "$download"/coturn_*.deb "$coturn"
  rm -rf "$download"
fi

# The end-of-turn model (Smart Turn v3.2, BSD-2-Clause) lives inside the pipecat-ai wheel: copy it out.
turn_model=.venv/share/livehuman/models/smart-turn-v3.2-cpu.onnx
if [ ! -f "$turn_model" ]; then
  echo "setup: extracting the end-of-turn model"
  .venv/bin/python scripts/extract_turn_model.py "$(dirname "$turn_model")"
fi
