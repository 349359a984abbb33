"""`livehuman bench live --plot PNG`: the latencies turn by turn and the sessions, against the targets."""

from __future__ import annotations

from livehuman.rates import FPS

# The targets, drawn as red lines.
RESPONSE_TARGETS_MS = {"p50 target": 600, "p95 target": 900}
BARGE_IN_TARGETS_MS = {"server target": 150, "client target": 450}


def plot_live(results: dict, path: str) -> None:
    """Three panels: response latency per turn, barge-in per turn, fps and CPU per session count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (response, barge, sessions) = plt.subplots(1, 3, figsize=(15, 4.2))

    latencies = results["response_latency_turns_ms"]
    turns = range(1, len(latencies) + 1)
    response.plot(turns, latencies, "o", color="tab:blue", label="turn")
    response.axhline(results["response_latency_p50_ms"], color="tab:blue", label="p50")
    response.axhline(results["response_latency_p95_ms"], color="tab:blue", linestyle="--", label="p95")
    for (label, value), style in zip(RESPONSE_TARGETS_MS.items(), (":", "-.")):
        response.axhline(value, color="tab:red", linestyle=style, label=label)
    response.set_title("response: end of speech → first voiced answer (client)", fontsize=9)
    response.set_xlabel("turn")
    response.set_ylabel("ms")
    response.set_ylim(0, max(*latencies, *RESPONSE_TARGETS_MS.values()) * 1.1)
    response.legend(fontsize=7, loc="lower right")

    for key, color, label in (("barge_in_server_turns_ms", "tab:green", "server"),
                              ("barge_in_client_turns_ms", "tab:purple", "client")):
        values = results.get(key) or []
        barge.plot(range(1, len(values) + 1), values, "o", color=color, label=label)
    for (label, value), color in zip(BARGE_IN_TARGETS_MS.items(), ("tab:green", "tab:purple")):
        barge.axhline(value, color=color, linestyle=":", label=label)
    barge.set_title("barge-in: user's speech → answer's voice stopped", fontsize=9)
    barge.set_xlabel("barge-in")
    barge.set_ylabel("ms")
    barge.set_ylim(0, 500)
    barge.legend(fontsize=7, loc="upper right")
    for ax in (response, barge):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    counts = sorted(int(key.split("_")[1]) for key in results if key.startswith("sessions_") and key.endswith("_fps_min"))
    fps = [results[f"sessions_{n}_fps_min"] for n in counts]
    cpu = [results[f"sessions_{n}_server_cpu_per_session"] for n in counts]
    held = results.get("sessions_at_25fps", 0)
    sessions.bar(counts, fps, color=["tab:blue" if n <= held else "tab:grey" for n in counts])
    sessions.axhline(FPS, color="tab:red", linestyle=":", label=f"{FPS} fps")
    sessions.set_ylim(0, FPS * 1.3)
    sessions.set_xticks(counts)
    sessions.set_xlabel("sessions talking at once (blue: 25 fps, nothing dropped)")
    sessions.set_ylabel("slowest session's fps")
    sessions.set_title("sessions", fontsize=9)
    cores = sessions.twinx()
    cores.plot(counts, cpu, "o-", color="tab:orange", label="server CPU per session")
    cores.set_ylim(0, 1)
    cores.set_ylabel("cores per session")
    handles = sessions.get_legend_handles_labels()[0] + cores.get_legend_handles_labels()[0]
    sessions.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="upper center", ncol=2)

    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
