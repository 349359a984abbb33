"""Who the digital human is: name, greeting, speaking style, instructions, voice and language."""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import yaml

from livehuman.errors import LivehumanError


@dataclass
class Persona:
    """A persona, as loaded from a YAML file; the defaults are the built-in persona, Ava."""

    name: str = "Ava"
    greeting: str = "Hi, I'm Ava, livehuman's digital assistant. Ask me anything about livehuman."
    style: str = "warm, clear and brief"
    instructions: str = ""
    voice: str = "en-us+f3"
    language: str = "en"


def default_persona_path() -> Path:
    """The persona file that ships with livehuman."""
    return Path(str(resources.files("livehuman") / "data" / "persona.yaml"))


def load_persona(path: str | Path | None = None) -> Persona:
    """Load a persona from a YAML file (None: the built-in default); missing fields keep defaults."""
    path = Path(path) if path is not None else default_persona_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LivehumanError(f"persona file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise LivehumanError(f"cannot read persona file {path}: {str(e).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LivehumanError(f"persona file {path} must be a YAML mapping of name, greeting, style, …")
    known = {f.name for f in fields(Persona)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise LivehumanError(
            f"persona file {path} has unknown field(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(known))}"
        )
    values = {}
    for key, value in data.items():
        if value is None:
            continue
        if not isinstance(value, (str, int, float)):
            raise LivehumanError(f"persona file {path}: '{key}' must be text")
        values[key] = str(value).strip()
    if "name" in values and not values["name"]:
        raise LivehumanError(f"persona file {path}: 'name' must not be empty")
    return Persona(**values)
