"""Persona files from anywhere: whatever a file holds, it loads as a persona or is refused with one
line naming what is wrong (`serve --persona` prints that line and stops; nothing else is raised)."""

from __future__ import annotations

import tomllib

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers_fuzz import FUZZ_EXAMPLES, JSON, mutated
from livehuman.brain.persona import Persona, load_persona
from livehuman.errors import LivehumanError
from test_persona import FULL

VALID = [tomllib.loads(FULL), {"name": "Bo", "voice": "en-gb", "touch": {"nose": ["Hey!", "That tickles."]}},
         {"name": "Flo", "voice": {"engine": "flite", "name": "slt"}, "brain": "offline",
          "page": {"title": "Flo", "accent": "#ff8800", "background": "#101010", "text": "white"}}]


def loads_or_says_why(path) -> Persona | LivehumanError:
    try:
        return load_persona(path)
    except LivehumanError as e:
        assert "\n" not in str(e), f"not one line: {e!s}"
        return e


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(mutated(VALID), JSON))
def test_any_yaml_persona_loads_or_is_refused_in_one_line(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("persona")
    (folder / "mars.yaml").write_text("- question: What is Mars?\n  answer: A planet.\n")
    path = folder / "fuzzed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = loads_or_says_why(path)
    assert isinstance(result, (Persona, LivehumanError))


@settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(at=st.integers(0, len(FULL)), cut=st.integers(0, 8), insert=st.text(max_size=12), suffix=st.sampled_from([".toml", ".yaml"]))
def test_a_damaged_file_loads_or_is_refused_in_one_line(tmp_path_factory, at, cut, insert, suffix):
    """The full example file with a few characters cut and others put in their place, read as
    TOML or as YAML."""
    folder = tmp_path_factory.mktemp("persona")
    (folder / "mars.yaml").write_text("- question: What is Mars?\n  answer: A planet.\n")
    path = folder / f"damaged{suffix}"
    path.write_text(FULL[:at] + insert + FULL[at + cut :], encoding="utf-8")
    assert isinstance(loads_or_says_why(path), (Persona, LivehumanError))


def test_the_valid_examples_load(tmp_path):
    """The fuzz starts from files that load: the refusals above come from the damage."""
    (tmp_path / "mars.yaml").write_text("- question: What is Mars?\n  answer: A planet.\n")
    for k, data in enumerate(VALID):
        path = tmp_path / f"valid{k}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert isinstance(load_persona(path), Persona)
