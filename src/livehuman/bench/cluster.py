"""`livehuman bench cluster`: what `serve --cluster` adds to a visit, and how fast it gets over a
lost machine, measured on this computer.

Four "machines" (bench/lan.py: network namespaces on one bridge, each with its own address and no
other way out): the front door (the Ray head, no sessions of its own), nodes A and B (a Ray node
each, `--places` sessions), and a lone `serve` beside them for comparison. The visitors are real
aiortc clients on the front door's machine. Figures:
- **offer**: POST /offer's time at the lone server and at the front door, each offer a whole visit
  (connect, see the channel open, hang up, wait until the place is free again), and which node
  answered each (the first answer of a node's life is measured apart: its first peer connection);
- **kill**: with two visitors on each node, B's machine is killed outright (every process, as a
  power cut would): how long until B's visitors are told through their lifeline, and how long a
  visitor arriving at that moment waits for an answer, and from which node;
- **memory**: each node's processes (PSS) with their visitors on.

Needs root (namespaces) and Ray (`pip install 'livehuman[cluster]'`). How many sessions a node
holds at 25 fps, two nodes against one, needs separate machines: here every node shares these cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from livehuman.bench.options import ClusterOptions, from_args
from livehuman.errors import LivehumanError
from livehuman.live.event_loop import run

FREE_AGAIN = 3.0  # s after a hang-up before the next visit: the node's next reports show the place free


@dataclass
class Servers:
    """The running processes and where to reach them."""

    front_url: str
    lone_url: str
    node_b: object  # bench.lan.RayNode
    nodes: dict  # address -> bench.lan.RayNode


def bench_cluster(options: ClusterOptions) -> dict:
    _check_can_run()
    from tqdm import tqdm

    from livehuman.bench.lan import Lan, RayCluster

    steps = tqdm(total=4, desc="bench cluster", unit="step")
    logs = Path(tempfile.mkdtemp(prefix="livehuman-bench-cluster-"))
    with Lan(4) as lan, RayCluster(lan, **({"system_config": {}} if options.ray_defaults else {})) as cluster:
        front, a, b, lone = lan.hosts
        cluster.start_head(front, num_cpus=0)
        nodes = {a.address: cluster.start_worker(a, num_cpus=1), b.address: cluster.start_worker(b, num_cpus=1)}
        cluster.wait_for_nodes(3)
        front_port, lone_port = 8080, 8081  # each machine has its own ports
        processes = [
            _serve(front, front_port, options.places, ["--cluster", cluster.address], logs / "front.log"),
            _serve(lone, lone_port, options.places, [], logs / "lone.log"),
        ]
        steps.set_postfix_str("starting the servers")
        try:
            servers = Servers(f"http://{front.address}:{front_port}", f"http://{lone.address}:{lone_port}",
                              nodes[b.address], nodes)
            with front.entered():  # the visitors sit on the front door's machine
                results = run(_measure(servers, options, steps, b.address))
        finally:
            for process in processes:
                _stop(process)
            steps.close()
    results["logs"] = str(logs)
    return results


def _check_can_run() -> None:
    if os.geteuid() != 0:
        raise LivehumanError("bench cluster builds network namespaces (a machine each) and needs root: "
                             "run it as root, or measure real machines with serve --cluster (docs/cluster.md)")
    if shutil.which("ip") is None:
        raise LivehumanError("bench cluster needs the `ip` command (Debian: apt install iproute2)")
    if importlib.util.find_spec("ray") is None:
        raise LivehumanError("bench cluster needs Ray: pip install 'livehuman[cluster]'")


def _serve(host, port: int, places: int, extra: list[str], log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "livehuman.cli", "serve", "--host", host.address, "--port", str(port),
            "--no-auth", "--max-sessions", str(places), "--render-workers", "0", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    with open(log, "wb") as out:
        return subprocess.Popen(host.command(argv), stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


async def _measure(servers: Servers, options: ClusterOptions, steps, b_address: str) -> dict:
    from livehuman.live.client import LiveClient

    await _ready(servers.lone_url, options.places)
    await _ready(servers.front_url, 2 * options.places)
    steps.update()
    steps.set_postfix_str("offers to the lone server")
    lone = [visit.offer_ms for visit in await _visits(servers.lone_url, options.offers)]
    steps.update()
    steps.set_postfix_str("offers to the front door")
    visits = await _visits(servers.front_url, options.offers)
    seen: set[str] = set()
    first, later = [], []
    for visit in visits:
        (later if visit.node in seen else first).append(visit.offer_ms)
        seen.add(visit.node)
    steps.update()
    steps.set_postfix_str("killing a machine")
    clients = [LiveClient(servers.front_url) for _ in range(4)]
    for client in clients:
        await client.connect(timeout=60)
    await asyncio.sleep(FREE_AGAIN)
    memory = {address: round(node.memory()[1] / 2**20) for address, node in servers.nodes.items()}
    on_b = [c for c in clients if c.node == b_address]
    killed = time.monotonic()
    await asyncio.to_thread(servers.node_b.stop)
    arriving = LiveClient(servers.front_url)
    await arriving.connect(timeout=60)
    answered = time.monotonic() - killed
    for client in on_b:
        await client.wait_for(lambda c=client: c.event("closed", lifeline=True), 60, "its lifeline's end")
    told = [next(t for t, e in c.received.events if e.get("lifeline") and e["type"] == "closed") - killed
            for c in on_b]
    for client in clients + [arriving]:
        await client.close()
    steps.update()
    return {
        "offer_lone_ms_p50": _q(lone, 0.5), "offer_lone_ms_p95": _q(lone, 0.95),
        "offer_cluster_ms_p50": _q(later, 0.5), "offer_cluster_ms_p95": _q(later, 0.95),
        "placement_added_ms_p50": round(_q(later, 0.5) - _q(lone, 0.5), 1),
        "placement_added_ms_p95": round(_q(later, 0.95) - _q(lone, 0.95), 1),
        "offer_first_on_each_node_ms": [round(ms, 1) for ms in first],
        "visits_per_node": {node: sum(v.node == node for v in visits) for node in sorted(seen)},
        "sessions_on_killed_node": len(on_b),
        "killed_node_visitors_told_s": [round(s, 2) for s in told],
        "new_visitor_answered_after_kill_s": round(answered, 2),
        "new_visitor_node": arriving.node,
        "node_pss_mib_with_2_visitors": memory,
    }


@dataclass
class Visit:
    offer_ms: float
    node: str | None


async def _visits(url: str, count: int) -> list[Visit]:
    """`count` visits one after another: each connects, sees its channel open, hangs up."""
    from livehuman.live.client import LiveClient

    visits = []
    for _ in range(count):
        client = LiveClient(url)
        try:
            await client.connect(timeout=30)
            visits.append(Visit(client.offer_seconds * 1000.0, client.node))
        finally:
            await client.close()
        await asyncio.sleep(FREE_AGAIN)
    return visits


async def _ready(url: str, places: int, timeout: float = 300.0) -> None:
    """Wait until `url`'s /readyz answers 200 with `places` places (a cluster: every node's)."""
    import aiohttp

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
            async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
                body = await response.json()
                if response.status == 200 and body.get("max_sessions") == places:
                    return
        await asyncio.sleep(0.25)
    raise LivehumanError(f"{url} was not ready with {places} places after {timeout:g} s")


def _q(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`, in ms rounded to 0.1."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1) if ordered else float("nan")


def bench_cluster_from_args(args) -> dict:
    """`livehuman bench cluster` (the CLI's parsed arguments)."""
    return bench_cluster(from_args(ClusterOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("cluster")
