"""Hypothesis strategies for fuzzing what the server takes from outside: JSON of any shape, and
valid examples (Realtime client events, persona files, a Realtime server's events) a field away
from valid (changed, removed or added anywhere in them)."""

from __future__ import annotations

import copy
import os

from hypothesis import strategies as st

# How many inputs each fuzz test tries; the benchmark run sets more (LIVEHUMAN_FUZZ_EXAMPLES=10000).
FUZZ_EXAMPLES = int(os.environ.get("LIVEHUMAN_FUZZ_EXAMPLES", "1000"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-10**30, max_value=10**30)
    | st.floats() | st.sampled_from([1e308, -1.0, 0, 24000, 16000, "realtime", "audio/pcm", "item_a", "root"])
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
# One valid example of each client event: the fuzzer changes, removes or adds one field anywhere in it.
VALID_EVENTS = [
    {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.", "output_modalities": ["audio"],
                                           "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                                               "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                                                                  "silence_duration_ms": 300}},
                                                     "output": {"voice": "en-us"}}}},
    {"type": "input_audio_buffer.append", "audio": "AAAAAA=="},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "conversation.item.create", "previous_item_id": "item_a",
     "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
    {"type": "conversation.item.truncate", "item_id": "item_a", "content_index": 0, "audio_end_ms": 100},
    {"type": "conversation.item.delete", "item_id": "item_a"},
    {"type": "conversation.item.retrieve", "item_id": "item_a"},
    {"type": "response.create", "response": {"output_modalities": ["text"], "instructions": "Shorter."}},
    {"type": "response.cancel", "response_id": "resp_1"},
    {"type": "output_audio_buffer.clear"},
]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, path + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, path + (i,))


@st.composite
def mutated(draw, valid: list[dict]):
    """One of `valid` with up to three fields changed, removed or added anywhere in it."""
    event = copy.deepcopy(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(event))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = event
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(JSON)
    return event


def mutated_events():
    """Client events a field away from valid."""
    return mutated([{**event, "event_id": "evt_fuzz"} for event in VALID_EVENTS])
