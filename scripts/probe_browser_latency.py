#!/usr/bin/env python
"""Response latency as heard in a real browser (issue 14 probe): Debian's Chromium talks to a live server.

Run as root from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_browser_latency.py [QUESTIONS]`
(~15 s a question). A network namespace of its own holds the server and the browser (ICE never
leaves it). Chromium's fake microphone says espeak-ng questions with long silences between; one
AudioWorklet in the page measures both the microphone and the answer's audio on the AudioContext's
clock, so the figure is the page's own: the end of the user's voice → the first voiced answer
sample the browser plays (after its jitter buffer and its audio/video synchronization). Also prints
Chromium's own jitter buffer delays from getStats(). See docs/benchmarks.md.
"""
import asyncio
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

QUESTIONS = ["Is it free?", "What is livehuman?", "Does it need a GPU?", "Does it work offline?"]
GAP_S = 14.0  # silence after each question: its answer ends before the next question
LEAD_S = 8.0  # the page connects while the microphone is still silent
RATE = 48000
BLOCK = 128  # samples an AudioWorklet block
MIC_VOICED = 0.005  # RMS of a block counted as the user's voice
ANSWER_VOICED = 0.015  # and as the answer's (about 500 in int16, as `bench live`)

SPY = r"""
(() => {
  window.__probe = { mic: null, answer: null, pc: null, rows: [] };
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => (window.__probe.mic = await open(c));
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__probe.pc = this;
      this.addEventListener("track", (e) => { if (e.track.kind === "audio") window.__probe.answer = new MediaStream([e.track]); });
    }
  };
})();
"""
METER = r"""
async () => {
  const ctx = new AudioContext({ sampleRate: 48000 });
  const code = `class Meter extends AudioWorkletProcessor {
    constructor() { super(); this.rows = []; }
    process(inputs) {
      const row = [currentTime];
      for (const input of inputs) {
        const x = input[0]; let sum = 0;
        if (x) { for (let i = 0; i < x.length; i++) sum += x[i] * x[i]; sum = Math.sqrt(sum / x.length); }
        row.push(sum);
      }
      this.rows.push(row);
      if (this.rows.length >= 50) { this.port.postMessage(this.rows); this.rows = []; }
      return true;
    } }
    registerProcessor("meter", Meter);`;
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: "application/javascript" })));
  const meter = new AudioWorkletNode(ctx, "meter", { numberOfInputs: 2, numberOfOutputs: 1 });
  ctx.createMediaStreamSource(window.__probe.mic).connect(meter, 0, 0);
  ctx.createMediaStreamSource(window.__probe.answer).connect(meter, 0, 1);
  meter.connect(ctx.destination);
  meter.port.onmessage = (e) => { for (const row of e.data) window.__probe.rows.push(row); };
  await ctx.resume();
}
"""
STATS = r"""
async () => {
  const out = {};
  (await window.__probe.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.jitterBufferEmittedCount)
      out[s.kind] = 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount;
  });
  return out;
}
"""


def questions_wav(path: Path, questions: list[str]) -> float:
    """The fake microphone's recording: silence, then each question and GAP_S of silence; its seconds."""
    parts = [np.zeros(int(LEAD_S * RATE), np.int16)]
    for i, text in enumerate(questions):
        raw = path.parent / f"q{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        pcm = subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-t", "raw", "-"],
                             check=True, capture_output=True).stdout
        parts += [np.frombuffer(pcm, np.int16), np.zeros(int(GAP_S * RATE), np.int16)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.concatenate(parts).tobytes())
    return sum(len(p) for p in parts) / RATE


def latencies(rows: np.ndarray) -> list[float]:
    """Per question: the end of the microphone's voice → the answer's first voiced block, in ms
    (questions asked while an answer still played are left out)."""
    t, mic, answer = rows[:, 0], rows[:, 1], rows[:, 2]
    voiced = np.flatnonzero(mic > MIC_VOICED)
    out = []
    for k, i in enumerate(voiced):
        if k + 1 < len(voiced) and t[voiced[k + 1]] - t[i] <= 1.0:
            continue  # not the end of a question
        end = t[i] + BLOCK / RATE
        if (answer[(t > end - 1.5) & (t < end)] > ANSWER_VOICED).any():
            continue
        first = np.flatnonzero((t > end) & (answer > ANSWER_VOICED))
        if len(first):
            out.append((t[first[0]] - end) * 1000)
    return out


async def probe(host: str, questions: list[str], workdir: Path) -> None:
    from playwright.async_api import async_playwright

    recording = workdir / "questions.wav"
    seconds = questions_wav(recording, questions)
    server = subprocess.Popen([sys.executable, __file__, "--serve", host], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                f"--unsafely-treat-insecure-origin-as-secure={url}",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={recording}%noloop"])
            page = await browser.new_page()
            await page.add_init_script(SPY)
            await page.goto(url)
            await page.click("#start")
            await page.wait_for_function("() => window.__probe.answer && window.__probe.mic", timeout=30000)
            await page.evaluate(METER)
            await asyncio.sleep(seconds + 2)
            rows = np.array(await page.evaluate("() => window.__probe.rows"))
            buffers = await page.evaluate(STATS)
            await browser.close()
    finally:
        server.terminate()
        server.wait()
    heard = latencies(rows)
    print("per question (ms):", [round(x) for x in heard])
    if heard:
        print(f"response latency in Chromium: p50 {np.median(heard):.0f} ms, p95 {np.percentile(heard, 95):.0f} ms "
              f"({len(heard)} of {len(questions)} questions)")
    print("Chromium's jitter buffers, mean delay (ms):", {k: round(v, 1) for k, v in buffers.items()})


async def serve(host: str) -> None:
    """The live server as `livehuman bench live` runs it (no greeting), on `host`."""
    from aiohttp import web

    from livehuman.live.server import build_live_server

    runner = web.AppRunner(build_live_server(avatar="default", max_sessions=1, greet=False).app())
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    print(f"http://{host}:{site._server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--inside"]:
        count = int(sys.argv[4])
        asyncio.run(probe(sys.argv[2], (QUESTIONS * count)[:count], Path(sys.argv[3])))
        return
    from livehuman.bench.netns import NetNamespace

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    with NetNamespace() as ns, tempfile.TemporaryDirectory() as tmp:
        subprocess.run(ns.command([sys.executable, __file__, "--inside", ns.addresses[0], tmp, str(count)]), check=True)


if __name__ == "__main__":
    main()
