"""A small LAN of network namespaces on one machine, and Ray nodes running on it.

`Lan(n)` builds n "machines" (network namespaces `lh-lan-<token>-<i>`) plugged into one Linux bridge
(the "switch", itself in a namespace `lh-lan-<token>-sw`, so nothing is added to the host's own
network). Machine i has lo, one veth `eth0` with 10.a.b.(i+1)/24, IPv6 off and no default route:
each sees only its own address and reaches the others through the switch, as separate computers on a
LAN would. `host.kill_all()` SIGKILLs everything on a machine (its address still answers, with
resets, as a machine whose processes crashed would); `host.unplug()` takes its switch port down
(packets to and from it vanish, as for a pulled cable or a machine losing power).

`RayCluster(lan)` starts `ray start --block` nodes on those machines: a head, workers, and the
zero-CPU node that a driver needs on its own machine. Each node gets its own --temp-dir under a short
private directory, so parallel runs and the developer's own /tmp/ray never meet; ports stay at Ray's
defaults, as every machine has its own network stack. The head gets FAST_DEATH health checks.

A driver runs on a machine of the LAN, e.g. the test's main thread enters it:

    with Lan(3) as lan, RayCluster(lan) as cluster:
        front, a, b = lan.hosts
        cluster.start_head(front, num_cpus=0)   # or a head elsewhere and start_worker(front, num_cpus=0)
        cluster.start_worker(a, num_cpus=1)
        cluster.start_worker(b, num_cpus=1)
        cluster.wait_for_nodes(3)
        with front.entered():
            ray.init(address=cluster.address, _node_ip_address=front.address)
            ...
            ray.shutdown()

What a driver needs, as found with Ray 2.60:
- A Ray node on its own machine: ray.init(address=...) attaches to a local raylet (with none it fails
  after 60 s). Ray Client (`ray://`) would not need one, but it needs grpcio, which is not installed.
- `_node_ip_address=` its own address. Ray finds local raylets in the process table, which all the
  namespaces share; without it ray.init takes the head's raylet, wherever that is, and the driver
  quietly lives on another "machine". (There is no RAY_NODE_IP_ADDRESS variable in 2.60.)
- An explicit address, never "auto": "auto" takes any gcs_server in the process table, so with two
  clusters on the computer it may pick the other one (and hang there).
The nodes need --node-ip-address: with no default route a head would call itself 127.0.0.1.

Everything is removed on exit, also after an exception or SIGTERM (ray.init installs its own SIGTERM
handler, which also unwinds, though the process then ends with SIGABRT's status). What a SIGKILLed
run leaves behind, the next Lan removes (see Lan.sweep).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from livehuman.bench.netns import _exit_on_sigterm, _ip, entered_namespace

PR_SET_PDEATHSIG = 1

# Ray's command and Python from the environment this runs in (the project's .venv).
RAY = str(Path(sys.executable).with_name("ray"))
PYTHON = sys.executable
GCS_PORT = 6379
# Which process owns each LAN (<token> holds "<pid> <start time>"), for sweep().
OWNERS = Path("/run/lh-lan")

# Defaults detect a dead node in 5 health checks 3 s apart (15 s and more). These find it within
# 1.5 s (a killed node) to 3 s (an unplugged one), cheap enough on a LAN of a few machines; too
# eager for a loaded production machine, where a node that stalls past them is declared dead and
# made to exit. Names as in Ray 2.60's ray_config_def.h; gcs_server dies on an unknown one.
FAST_DEATH = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}



def _die_with_parent() -> None:
    # Runs in the child before exec: if the process (precisely, the thread) that started it dies,
    # even by SIGKILL, the kernel SIGKILLs it, so a crashed test run leaves fewer Ray processes.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Host:
    """One machine of the LAN: a network namespace with a single address on the switch."""

    def __init__(self, lan: "Lan", index: int) -> None:
        self.lan = lan
        self.index = index
        self.name = f"lh-lan-{lan.token}-{index}"
        self.address = str(lan.subnet.network_address + index + 1)
        self.port = f"p{index}"  # its veth's other end, in the switch namespace

    def __repr__(self) -> str:
        return f"Host({self.name}, {self.address})"

    def command(self, argv: list[str]) -> list[str]:
        """`argv` wrapped to run on this machine."""
        return ["ip", "netns", "exec", self.name, *argv]

    def entered(self) -> contextlib.AbstractContextManager["Host"]:
        """Move the calling thread into this machine for the block; back out afterwards, always.

        Threads and processes started from inside (Ray's included) stay there for good."""
        return entered_namespace(self.name, self)

    def pids(self) -> list[int]:
        """Processes whose main thread is on this machine, not counting this one.

        `ip netns pids` looks at each process's main thread: a test whose main thread has entered the
        namespace would be listed, and kill_all() must not kill the test itself."""
        return _namespace_pids(self.name)

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every process on this machine (a machine dying), until none is left.

        Repeated because a process may fork while we kill; a killed child of ours stays a zombie
        (outside the namespace, so no longer listed) until reaped."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise TimeoutError(f"processes left in {self.name}: {pids}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time consumed so far by the processes now on this machine."""
        ticks = 0
        for pid in self.pids():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rpartition(")")[2].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def unplug(self) -> None:
        """Take this machine's switch port down: its packets vanish, with no reset to anyone."""
        _ip("-n", self.lan.switch, "link", "set", self.port, "down")

    def plug(self) -> None:
        _ip("-n", self.lan.switch, "link", "set", self.port, "up")


class Lan:
    """n machines (`hosts`) on one switch; a context manager that always removes them all."""

    def __init__(self, n: int) -> None:
        if not 1 <= n <= 250:
            raise ValueError("a /24 holds 1 to 250 machines")
        self.token = secrets.token_hex(3)
        # A random 10.x.y.0/24 keeps parallel runs apart (and away from the host's own routes,
        # which the namespaces cannot see anyway).
        octets = secrets.token_bytes(2)
        self.subnet = ipaddress.ip_network(f"10.{octets[0]}.{octets[1]}.0/24")
        self.switch = f"lh-lan-{self.token}-sw"
        self.hosts = [Host(self, i) for i in range(n)]
        self._made: list[str] = []
        self._owner_file = OWNERS / self.token

    def create(self) -> None:
        # Claimed before any namespace exists, so that a sweep by another run never takes a LAN
        # that is still being built for a live owner.
        OWNERS.mkdir(parents=True, exist_ok=True)
        self._owner_file.write_text(_process_identity(os.getpid()))
        self._add_namespace(self.switch)
        sw = ("-n", self.switch)
        # STP stays off (the default), so a port forwards as soon as it is up.
        _ip(*sw, "link", "add", "br0", "type", "bridge")
        _ip(*sw, "link", "set", "br0", "up")
        for host in self.hosts:
            self._add_namespace(host.name)
            # Made inside the machine, its peer sent straight to the switch: no name ever appears in
            # the host's own namespace, where it could collide with another run's.
            _ip("-n", host.name, "link", "add", "eth0", "type", "veth",
                "peer", "name", host.port, "netns", self.switch)
            _ip(*sw, "link", "set", host.port, "master", "br0")
            _ip(*sw, "link", "set", host.port, "up")
            _ip("-n", host.name, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0")
            _ip("-n", host.name, "link", "set", "eth0", "up")

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        # IPv4 only: link-local IPv6 addresses would add nothing but noise to ICE and to Ray.
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], check=True)

    def remove(self) -> None:
        # A namespace lives on while a process is in it: kill first, then delete.
        for host in self.hosts:
            if host.name in self._made:
                with contextlib.suppress(TimeoutError):
                    host.kill_all()
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        self._made.clear()
        self._owner_file.unlink(missing_ok=True)

    @staticmethod
    def sweep() -> list[str]:
        """Remove what runs killed outright (SIGKILL, a crash) left behind: the namespaces of every LAN
        whose owner process is gone, the processes in them and their Ray directories.

        A SIGKILLed run cannot clean up. Its `ray start` processes die with it (PR_SET_PDEATHSIG), and
        gcs_server and raylet follow them, but Ray's two agents on each node live on, ~200 MB a node.
        LANs of live runs, and namespaces without an owner record, are left alone."""
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        by_token: dict[str, list[str]] = {}
        for line in listed.splitlines():
            name = line.split(" ", 1)[0]
            if match := re.fullmatch(r"lh-lan-([0-9a-f]{6})-(?:\d+|sw)", name):
                by_token.setdefault(match[1], []).append(name)
        swept = []
        for token, names in by_token.items():
            owner = OWNERS / token
            try:
                pid, _, identity = owner.read_text().partition(" ")
            except FileNotFoundError:
                continue
            if _process_identity(int(pid)) == f"{pid} {identity}":
                continue  # its owner still runs
            for name in names:
                for pid_ in _namespace_pids(name):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid_, signal.SIGKILL)
            time.sleep(0.2)
            for name in names:
                subprocess.run(["ip", "netns", "delete", name], capture_output=True)
            for root in Path("/tmp").glob(f"lhray-{token}-*"):
                shutil.rmtree(root, ignore_errors=True)
            owner.unlink(missing_ok=True)
            swept += names
        return swept

    def __enter__(self) -> "Lan":
        # A run stopped with SIGTERM (e.g. by `timeout`) must still unwind and remove the namespaces.
        self._previous_handler = None
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self.sweep()
            self.create()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.remove()
        finally:
            if self._previous_handler is not None:
                signal.signal(signal.SIGTERM, self._previous_handler)
                self._previous_handler = None


class RayNode:
    """One `ray start --block` process (and the Ray processes under it) on a machine of the LAN."""

    def __init__(self, host: Host, argv: list[str], temp_dir: str, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.host = host
        self.argv = argv
        self.temp_dir = temp_dir
        self.log = log
        self.joined = False  # seen alive in the GCS by RayCluster.wait_for_nodes
        env = dict(os.environ)
        # Nothing of the developer's own Ray set-up may leak in (RAY_ADDRESS above all).
        for key in [k for k in env if k.startswith("RAY_")]:
            del env[key]
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env.update(extra_env or {})
        with open(log, "ab") as out:
            self.process = subprocess.Popen(host.command(argv), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            preexec_fn=_die_with_parent)

    def alive(self) -> bool:
        """Whether its `ray start --block` still runs (it exits when the node's raylet dies)."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def fatal_lines(self) -> str:
        """Fatal lines (severity C or F, as a failed RAY_CHECK writes them) from this node's logs."""
        found = []
        for path in Path(self.temp_dir).glob("session_*/logs/*.err"):
            with contextlib.suppress(OSError):
                found += [line for line in path.read_text(errors="replace").splitlines()
                          if _FATAL.match(line)]
        return "\n".join(dict.fromkeys(found))

    def memory(self) -> tuple[int, int]:
        """(RSS, PSS) in bytes, summed over every process on this node's machine (one node a machine).

        RSS counts the pages that Ray's processes share (libraries, the venv's Python) once per
        process; PSS splits them, so PSS sums add up across nodes."""
        rss = pss = 0
        for pid in self.host.pids():
            figures = _smaps_rollup(pid)
            rss += figures.get("Rss", 0)
            pss += figures.get("Pss", 0)
        return rss, pss

    def stop(self) -> None:
        """Kill the node the hard way: every process on its machine. (A graceful `ray stop` would find
        Ray processes by name across the whole computer, the developer's and other runs' included.)"""
        self.host.kill_all()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class RayCluster:
    """Ray nodes on the machines of a Lan; a context manager that kills them all on exit.

    Start nodes from a thread that outlives them (the main thread, a module fixture): each node is
    SIGKILLed when the thread that started it ends (PR_SET_PDEATHSIG), a passing executor thread's
    included."""

    def __init__(self, lan: Lan, system_config: dict | None = None, object_store_mb: int = 100,
                 lean: bool = False, env: dict[str, str] | None = None) -> None:
        """`system_config` goes to the head (which hands it to every node and driver): None for
        FAST_DEATH, {} for Ray's defaults. `object_store_mb` per node: Ray's default takes 30% of RAM
        on each of them. `lean` leaves out the log monitor on every node (so workers' prints no longer
        reach the driver) and the autoscaler's monitor on the head: about 90 MB less RSS each. `env`
        is added to every node's environment (which keeps nothing RAY_* of this process's own)."""
        self.lan = lan
        self.system_config = FAST_DEATH if system_config is None else system_config
        self.object_store_mb = object_store_mb
        self.lean = lean
        self.env = env or {}
        # Short on purpose: Ray's Unix sockets live under <temp-dir>/session_<date>_<pid>/sockets/,
        # and a socket path may be at most 107 bytes (pytest's tmp_path is often too long).
        # The LAN's token in the name lets Lan.sweep() find it after a SIGKILLed run.
        self.root = Path(tempfile.mkdtemp(prefix=f"lhray-{lan.token}-", dir="/tmp"))
        self.nodes: list[RayNode] = []
        self.head: RayNode | None = None

    @property
    def address(self) -> str:
        assert self.head is not None, "no head yet"
        return f"{self.head.host.address}:{GCS_PORT}"

    def _common(self, host: Host, num_cpus: float, resources: dict | None) -> tuple[list[str], str]:
        n = sum(node.host is host for node in self.nodes)
        temp_dir = str(self.root / f"{host.index}{chr(ord('a') + n)}")  # a new one for each restart
        argv = [RAY, "start", "--block", "--disable-usage-stats",
                "--node-ip-address", host.address,  # no default route: Ray cannot guess it
                "--num-cpus", str(num_cpus), "--num-gpus", "0",
                "--object-store-memory", str(self.object_store_mb * 1024 * 1024),
                "--temp-dir", temp_dir]
        if resources:
            argv += ["--resources", json.dumps(resources)]
        if self.lean:
            argv += ["--include-log-monitor=false"]
        return argv, temp_dir

    def _start(self, host: Host, argv: list[str], temp_dir: str) -> RayNode:
        node = RayNode(host, argv, temp_dir, self.root / f"{Path(temp_dir).name}.log", self.env)
        self.nodes.append(node)
        return node

    def start_head(self, host: Host, num_cpus: float = 0, resources: dict | None = None) -> RayNode:
        argv, temp_dir = self._common(host, num_cpus, resources)
        # --include-dashboard=false still starts dashboard.py (the head's job and state API), only
        # without the web UI.
        argv += ["--head", "--port", str(GCS_PORT), "--include-dashboard=false"]
        if self.lean:
            argv += ["--no-monitor"]
        if self.system_config:
            argv += ["--system-config", json.dumps(self.system_config)]
        self.head = self._start(host, argv, temp_dir)
        return self.head

    def start_worker(self, host: Host, num_cpus: float = 1, resources: dict | None = None) -> RayNode:
        argv, temp_dir = self._common(host, num_cpus, resources)
        argv += ["--address", self.address]
        return self._start(host, argv, temp_dir)

    def alive_nodes(self, timeout: float = 15) -> list[dict]:
        """The nodes the GCS calls alive now (see wait_for_nodes)."""
        return self.wait_for_nodes(0, timeout)

    def wait_for_nodes(self, count: int, timeout: float = 60) -> list[dict]:
        """Wait until exactly `count` nodes are alive (any number for 0); returns them, each as
        {node_id, address, head, resources}.

        Asked from the head's machine by a short Python process, so that this process needs no Ray
        connection (and no setns of its own). Fails early, with the reason from the logs, when the head
        or a node that has not joined yet exits or logs a fatal error: a bad --system-config key, for
        one, kills gcs_server while `ray start --block` waits on forever."""
        assert self.head is not None, "no head yet"
        # Watched: nodes not yet seen joining, and the head, without which nothing joins. (A node
        # that was in the cluster may leave on purpose: killed, unplugged.)
        watched = [node for node in self.nodes if node.alive() and (not node.joined or node is self.head)]
        script = _WAIT_FOR_NODES.format(address=self.address, count=count)
        deadline = time.monotonic() + timeout
        with tempfile.TemporaryFile("w+") as out:
            waiter = subprocess.Popen(self.head.host.command([PYTHON, "-c", script]), stdout=out,
                                      stderr=subprocess.DEVNULL, text=True)
            try:
                while waiter.poll() is None:
                    problem = next((f"{node.host.name} exited:\n{node.log_tail()}"
                                    for node in watched if not node.alive()), None)
                    problem = problem or next((f"{node.host.name} failed:\n{fatal}"
                                               for node in watched if (fatal := node.fatal_lines())), None)
                    if problem or time.monotonic() > deadline:
                        raise TimeoutError(f"not {count} alive nodes within {timeout} s: "
                                           f"{problem or 'no error seen'}\n(all logs under {self.root})")
                    time.sleep(0.1)
            finally:
                if waiter.poll() is None:
                    waiter.kill()
                waiter.wait()
            out.seek(0)
            nodes = json.loads(out.read().splitlines()[-1])
        addresses = {node["address"] for node in nodes}
        for node in watched:
            node.joined = node.joined or node.host.address in addresses
        return nodes

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()

    def __enter__(self) -> "RayCluster":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# Polls the GCS until {count} nodes are alive; the caller keeps the clock and kills it.
_WAIT_FOR_NODES = """
import json, time
from ray._raylet import GcsClient
from ray.core.generated.gcs_pb2 import GcsNodeInfo
client = None
while True:
    try:
        client = client or GcsClient(address="{address}")
        infos = client.get_all_node_info(timeout=2).values()
        nodes = [dict(node_id=i.node_id.hex(), address=i.node_manager_address, head=i.is_head_node,
                      resources=dict(i.resources_total))
                 for i in infos if i.state == GcsNodeInfo.GcsNodeState.ALIVE]
        if {count} == 0 or len(nodes) == {count}:
            break
    except Exception:
        pass  # the GCS is not up yet
    time.sleep(0.2)
print(json.dumps(nodes))
"""


# "[2026-12-03 22:49:53,555 C 19914 19914] (gcs_server) ray_config.cc:60: Received unexpected ..."
_FATAL = re.compile(r"^\[\S+ \S+ [CF] \d+ \d+\]")


def _namespace_pids(name: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [pid for pid in map(int, done.stdout.split()) if pid != os.getpid()]


def _process_identity(pid: int) -> str:
    """"<pid> <start time>": a pid alone may since have been reused by another process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Field 22, counted after the command name, which may itself hold spaces and brackets.
            return f"{pid} {stat.read().rpartition(')')[2].split()[19]}"
    except (FileNotFoundError, ProcessLookupError):
        return f"{pid} gone"


def _smaps_rollup(pid: int) -> dict[str, int]:
    figures = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if rest.strip().endswith("kB"):
                    figures[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass  # gone meanwhile
    return figures
