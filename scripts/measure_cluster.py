"""Figures of `serve --cluster` on one machine (docs/benchmarks.md, "Many machines"): the time of
`POST /offer` on one machine and through a cluster's front door, how soon the visitors of a killed
machine are told, and where a visitor arriving at that moment lands.

Four network namespaces (tests/lan.py): the front door (the Ray head, no sessions), machines A
and B (one Ray node each, 3 places), and a lone `serve` for comparison; the visitor sits by the
front door. Needs root. `python scripts/measure_cluster.py fast` uses the tests' quick health
checks; `default`: Ray's own.
"""
import asyncio, json, os, signal, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import aiohttp
from aiortc import RTCSessionDescription
from lan import Lan, RayCluster
from helpers_live import free_port
from livehuman.live.client import LiveClient

PY = str(ROOT / ".venv" / "bin" / "python")

def serve(host, port, extra, log):
    argv = [PY, "-m", "livehuman.cli", "serve", "--host", host.address, "--port", str(port), "--no-auth",
            "--max-sessions", "3", "--render-workers", "0", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return subprocess.Popen(host.command(argv), stdout=log, stderr=subprocess.STDOUT, env=env)

async def ready(url, places):
    for _ in range(1200):
        try:
            async with aiohttp.ClientSession() as h, h.get(url + "/readyz") as r:
                b = await r.json()
                if r.status == 200 and b["max_sessions"] == places:
                    return
        except Exception:
            pass
        await asyncio.sleep(0.25)
    raise TimeoutError

async def offer_times(url, n):
    times = []
    for _ in range(n):
        c = LiveClient(url)
        await c.pc.setLocalDescription(await c.pc.createOffer())
        async with aiohttp.ClientSession() as h:
            t0 = time.perf_counter()
            async with h.post(url + "/offer", json={"sdp": c.pc.localDescription.sdp, "type": "offer"}) as r:
                a = await r.json()
            times.append((time.perf_counter() - t0) * 1000)
        await c.pc.setRemoteDescription(RTCSessionDescription(sdp=a["sdp"], type=a["type"]))
        await asyncio.wait_for(c._channel_open.wait(), 30)
        await c.close()
        await asyncio.sleep(3.0)  # its place is free again (the node's next report says so)
    return times

def q(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]

async def main_async(front, a, b, node_b, url_c, url_l):
    out = {}
    await ready(url_l, 3); await ready(url_c, 6)
    out["offer_local_ms"] = await offer_times(url_l, 12)
    out["offer_cluster_ms"] = await offer_times(url_c, 12)
    clients = [LiveClient(url_c) for _ in range(4)]
    for c in clients:
        await c.connect(timeout=60)
    await asyncio.sleep(3)
    on_b = [c for c in clients if c.node == b.address]
    killed = time.monotonic()
    node_b.stop()
    # a visitor arriving at the moment of the kill
    t0 = time.monotonic(); newc = LiveClient(url_c); await newc.connect(timeout=60)
    out["new_session_after_kill_s"] = time.monotonic() - t0; out["new_session_node"] = newc.node
    for c in on_b:
        await c.wait_for(lambda c=c: c.event("closed", lifeline=True), 60)
    out["told_s"] = [next(t for t, e in c.received.events if e.get("lifeline") and e["type"] == "closed") - killed for c in on_b]
    for c in clients + [newc]:
        await c.close()
    return out

def main():
    fast = sys.argv[1] == "fast"
    with Lan(4) as lan, RayCluster(lan, **({} if fast else {"system_config": {}})) as cluster:
        front, a, b, solo = lan.hosts
        cluster.start_head(front, num_cpus=0)
        cluster.start_worker(a, num_cpus=1); node_b = cluster.start_worker(b, num_cpus=1)
        cluster.wait_for_nodes(3)
        pc_, pl = free_port("127.0.0.1"), free_port("127.0.0.1")
        procs = [serve(front, pc_, ["--cluster", cluster.address], open("/tmp/cluster-front.log", "wb")),
                 serve(solo, pl, [], open("/tmp/cluster-solo.log", "wb"))]
        try:
            # the visitor: on the front's machine, reaching the solo server over the LAN too
            with front.entered():
                out = asyncio.run(main_async(front, a, b, node_b, f"http://{front.address}:{pc_}", f"http://{solo.address}:{pl}"))
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
                try: p.wait(30)
                except Exception: p.kill()
    for k in ("offer_local_ms", "offer_cluster_ms"):
        xs = out[k][2:]  # the first two warm the path
        out[k + "_p50_p95"] = (round(statistics.median(xs), 1), round(q(xs, 0.95), 1))
    print(json.dumps(out, indent=1, default=str))

main()
