"""Which node takes the next session: a plain function of what each node last reported."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeLoad:
    """What one node says about itself (NodeHost.report), every poll of the front door."""

    node_id: str  # Ray's id of the machine
    address: str  # its IP address: where its sessions' media come from
    sessions: list[str] = field(default_factory=list)  # ids of its live sessions
    max_sessions: int = 4
    ready: bool = False  # its models are warm: it can answer at once
    cpu: float = 0.0  # the machine's busy fraction (0..1) since its last report
    dropped: int = 0  # media frames it dropped or ran late since its last report
    drive_url: str = ""  # where its drive API answers the front door ("" until it is up; cluster/drive.py)
    drive_token: str = ""  # the token that API asks of the front door
    uploads: list[str] = field(default_factory=list)  # the uploaded avatars it holds (POST /avatars)

    @property
    def free(self) -> int:
        return self.max_sessions - len(self.sessions)


def choose_node(loads: list[NodeLoad], taken: dict[str, int] | None = None) -> NodeLoad | None:
    """The node for a new session: ready, with a free place, least loaded; None when every node is
    full (the visitor is told the service is busy).

    `taken`: places given out by node id since the loads were reported (offers being answered),
    so that offers arriving together are spread instead of all going to the same node.

    Least loaded: the smallest share of its places taken, then a node that has not been dropping
    frames (it is short of CPU whatever its count says), then the lowest CPU use.
    """
    taken = taken or {}
    candidates = [load for load in loads if load.ready and load.free - taken.get(load.node_id, 0) > 0]
    if not candidates:
        return None

    def busyness(load: NodeLoad) -> tuple:
        share = (len(load.sessions) + taken.get(load.node_id, 0)) / load.max_sessions
        return (share, load.dropped > 0, load.cpu)

    return min(candidates, key=busyness)
