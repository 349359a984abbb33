"""Who the digital human is: a persona file (TOML or YAML) read into one typed Persona.

A persona says how the digital human looks (avatar), sounds (voice), behaves (greeting, style,
instructions, idle motion, expressiveness), what it knows (knowledge base) and which brain
thinks for it. Every field is optional; a field left out keeps the built-in persona's value.
A file with a mistake is refused with one line naming the file, the field and the problem.
See examples/personas/ for commented files and docs/personas.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from livehuman.avatar.zones import ZONES as TOUCH_ZONES
from livehuman.errors import LivehumanError
from livehuman.theme import CHECKS as PAGE_CHECKS
from livehuman.theme import PageTheme, logo_source

VOICE_ENGINES = ("espeak", "flite")
BRAINS = ("offline", "openai", "realtime")
BRAIN_ALIASES = {"local": "offline"}  # the CLI's name for the offline brain
RATE_RANGE = (80, 450)  # espeak-ng words per minute
PITCH_RANGE = (0, 100)  # espeak-ng pitch
BLINK_RANGE = (0.0, 3.0)  # times the usual blink rate
HEAD_RANGE = (0.0, 2.0)  # times the usual head motion
TOUCH_LINE_MAX = 200  # characters: a touch's line is a short one


@dataclass(frozen=True)
class Persona:
    """A persona; the defaults are the built-in one (Ava). Tables of the file are flattened:
    `[voice] rate` is `voice_rate`, `[brain] url` is `brain_url`, `[idle] blink_rate` is `blink_rate`."""

    name: str = "Ava"
    greeting: str = "Hi, I'm Ava, livehuman's digital assistant. Ask me anything about livehuman."
    style: str = "warm, clear and brief"
    instructions: str = ""  # the system prompt
    language: str = "en"
    avatar: str | None = None  # a prepared avatar's name or a photo/video path (None: the server's)
    knowledge: str | None = None  # a knowledge base file (None: the server's)
    voice: str = "en-us+f3"  # the offline voice's name (an espeak-ng voice, or a flite one)
    voice_engine: str = "espeak"
    voice_rate: int = 160  # words per minute (espeak-ng)
    voice_pitch: int | None = None  # 0..100 (espeak-ng; None: the voice's own)
    brain: str = "offline"  # offline, openai or realtime
    brain_url: str | None = None  # realtime: the server's WebSocket URL
    brain_model: str | None = None  # openai/realtime: the model
    brain_voice: str | None = None  # openai/realtime: one of the service's voices
    blink_rate: float = 1.0  # times the usual blink rate
    head_motion: float = 1.0  # times the usual idle head motion
    expressiveness: float = 0.7  # 0 (a still face) .. 1 (full expressions)
    touch: tuple[tuple[str, tuple[str, ...]], ...] = ()  # [touch]: (zone, its lines) (live/touch.py)
    # [page]: the page's look while this persona talks (theme.py); None: the page's own.
    page_title: str | None = None
    page_accent: str | None = None  # CSS colours
    page_background: str | None = None
    page_text: str | None = None
    page_logo: str | None = None  # an image file's full path, or an https URL
    source: str | None = None  # the file it was read from

    def tts(self, voice: str | None = None) -> Any:
        """The offline brain's voice for this persona (`voice` overrides its name): an object with
        `.sentences(text)`, as the offline brain's speaker takes."""
        name = voice or self.voice
        if self.voice_engine == "flite":
            return FliteVoice(name)
        from livehuman.speech.espeak import EspeakTTS

        return EspeakTTS(name, words_per_minute=self.voice_rate, pitch=self.voice_pitch)

    def system_prompt(self) -> str:
        """The instructions of an LLM or a Realtime model speaking as this persona."""
        parts = [f"Your name is {self.name}.", self.instructions]
        if self.style:
            parts.append(f"Speaking style: {self.style}.")
        if self.language and not self.language.startswith("en"):
            parts.append(f"Answer in the language with code '{self.language}'.")
        parts.append("Notes in the conversation such as '(The user sounds sad: …)' say how the user feels, "
                     "read from their words and voice: let them shape your tone.")
        return "\n".join(p.strip() for p in parts if p and p.strip())

    @property
    def theme(self) -> PageTheme:
        """The page's title, colours and logo with this persona (`[page]`)."""
        return PageTheme(title=self.page_title, accent=self.page_accent, background=self.page_background,
                         text=self.page_text, logo=self.page_logo)

    @property
    def key(self) -> str:
        """The persona's name as the page and the API name it: lower case, dashes for spaces."""
        return "-".join(self.name.lower().split())


class FliteVoice:
    """flite as the offline brain's voice: a reply spoken sentence by sentence."""

    def __init__(self, voice: str) -> None:
        from livehuman.speech.flite import FLITE_VOICES

        if voice not in FLITE_VOICES:
            raise LivehumanError(f"unknown flite voice {voice!r}: choose one of {', '.join(FLITE_VOICES)}")
        self.voice = voice

    def sentences(self, text: str):
        from livehuman.speech.espeak import split_sentences
        from livehuman.speech.flite import flite_speech

        for sentence in split_sentences(text) or [text]:
            yield flite_speech(sentence, self.voice)


def default_persona_path() -> Path:
    """The persona file that ships with livehuman."""
    return Path(str(resources.files("livehuman") / "data" / "persona.yaml"))


# The file's fields: top-level ones, and the tables' (voice, brain, idle) as "table.field".
_TEXT = ("name", "greeting", "style", "instructions", "language", "avatar", "knowledge")
_TABLES = {
    "voice": {"engine": "voice_engine", "name": "voice", "rate": "voice_rate", "pitch": "voice_pitch"},
    "brain": {"kind": "brain", "url": "brain_url", "model": "brain_model", "voice": "brain_voice"},
    "idle": {"blink_rate": "blink_rate", "head_motion": "head_motion"},
    "page": {"title": "page_title", "accent": "page_accent", "background": "page_background", "text": "page_text",
             "logo": "page_logo"},
}
_SHORT = {"voice": "name", "brain": "kind"}  # `voice = "en-gb"` is `[voice] name = "en-gb"`
ALLOWED = _TEXT + ("system_prompt", "expressiveness") + tuple(_TABLES) + ("touch",)


class _Bad(Exception):
    """One field's problem: (field, what is wrong)."""


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise LivehumanError(f"persona file {path} must end in .toml, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LivehumanError(f"persona file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LivehumanError(f"cannot read persona file {path}: {e}") from None
    try:
        return tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except tomllib.TOMLDecodeError as e:
        raise LivehumanError(f"persona file {path} is not valid TOML: {e}") from None
    except yaml.YAMLError as e:
        raise LivehumanError(f"persona file {path} is not valid YAML: {str(e).splitlines()[0]}") from None


def load_persona(path: str | Path | None = None) -> Persona:
    """Load a persona from a TOML or YAML file (None: the built-in one); missing fields keep defaults."""
    path = Path(path) if path is not None else default_persona_path()
    data = _read(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LivehumanError(f"persona file {path} must be a table of fields (name, greeting, voice, …)")
    try:
        values = _values(data, path.parent)
    except _Bad as bad:
        key, problem = bad.args
        raise LivehumanError(f"persona file {path}: '{_printable(key)}' {problem}") from None
    values["source"] = str(path)
    persona = Persona(**values)
    _check_voice(persona, path)
    return persona


def _values(data: dict, folder: Path) -> dict[str, Any]:
    """The Persona's fields from a file's mapping; raises _Bad naming the first wrong field."""
    unknown = sorted(map(str, set(data) - set(ALLOWED)))
    if unknown:
        raise _Bad(unknown[0], f"is not a persona field; allowed: {', '.join(ALLOWED)}")
    if "system_prompt" in data and "instructions" in data:
        raise _Bad("system_prompt", "and 'instructions' are the same field: give one of them")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in _TABLES:
            values.update(_table(key, value, folder))
        elif key == "expressiveness":
            values[key] = _number(key, value, (0.0, 1.0))
        elif key == "touch":
            values[key] = _touch(value)
        else:
            values["instructions" if key == "system_prompt" else key] = _text(key, value)
    if "name" in values and not values["name"]:
        raise _Bad("name", "must not be empty")
    for key in ("knowledge", "avatar"):
        if values.get(key):
            values[key] = _file(key, values[key], folder)
    brain = values.get("brain", "offline")
    if brain == "realtime" and not values.get("brain_url"):
        raise _Bad("brain.url", "is needed for the realtime brain (a ws:// or wss:// URL)")
    if values.get("voice_engine") == "flite" and ({"voice_rate", "voice_pitch"} & set(values)):
        raise _Bad("voice.rate" if "voice_rate" in values else "voice.pitch", "is for espeak voices only")
    return values


def _table(table: str, value: Any, folder: Path) -> dict[str, Any]:
    names = _TABLES[table]
    if not isinstance(value, dict):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and table in _SHORT:
            value = {_SHORT[table]: value}
        else:
            raise _Bad(table, f"must be a table of {', '.join(names)}")
    unknown = sorted(map(str, set(value) - set(names)))
    if unknown:
        raise _Bad(f"{table}.{unknown[0]}", f"is not a field of [{table}]; allowed: {', '.join(names)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        field = f"{table}.{key}"
        attr = names[key]
        if attr == "voice_rate":
            out[attr] = int(_number(field, item, RATE_RANGE, whole=True))
        elif attr == "voice_pitch":
            out[attr] = int(_number(field, item, PITCH_RANGE, whole=True))
        elif attr == "blink_rate":
            out[attr] = _number(field, item, BLINK_RANGE)
        elif attr == "head_motion":
            out[attr] = _number(field, item, HEAD_RANGE)
        elif table == "page":
            check = PAGE_CHECKS.get(key) or (lambda v: logo_source(v, folder))
            try:
                out[attr] = check(_text(field, item))
            except ValueError as e:
                raise _Bad(field, str(e)) from None
        else:
            out[attr] = _text(field, item)
            if not out[attr]:
                raise _Bad(field, "must not be empty")
    if "voice_engine" in out and out["voice_engine"] not in VOICE_ENGINES:
        raise _Bad("voice.engine", f"must be one of {', '.join(VOICE_ENGINES)}, got {out['voice_engine']!r}")
    if "brain" in out:
        out["brain"] = BRAIN_ALIASES.get(out["brain"], out["brain"])
        if out["brain"] not in BRAINS:
            raise _Bad("brain.kind", f"must be one of {', '.join(BRAINS)}, got {value.get('kind')!r}")
    if "brain_url" in out and not out["brain_url"].startswith(("ws://", "wss://")):
        raise _Bad("brain.url", f"must be a ws:// or wss:// URL, got {out['brain_url']!r}")
    return out


def _touch(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The [touch] table: each zone's line, or a list of lines said in turn."""
    if not isinstance(value, dict):
        raise _Bad("touch", f"must be a table of lines by face zone ({', '.join(TOUCH_ZONES)}), got {_kind(value)}")
    out = []
    for zone, lines in value.items():
        field = f"touch.{zone}"
        if zone not in TOUCH_ZONES:
            raise _Bad(field, f"is not a face zone; allowed: {', '.join(TOUCH_ZONES)}")
        items = lines if isinstance(lines, list) else [lines]
        texts = tuple(_text(field, item) for item in items)
        if not texts or not all(texts):
            raise _Bad(field, "must be a line, or a list of lines, none of them empty")
        if (longest := max(map(len, texts))) > TOUCH_LINE_MAX:
            raise _Bad(field, f"lines are limited to {TOUCH_LINE_MAX} characters (a short reaction), got {longest}")
        out.append((str(zone), texts))
    return tuple(out)


def _text(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Bad(field, f"must be text, got {_kind(value)}")
    return str(value).strip()


def _number(field: str, value: Any, bounds: tuple[float, float], whole: bool = False) -> float:
    lo, hi = bounds
    what = f"a whole number from {lo} to {hi}" if whole else f"a number from {lo:g} to {hi:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and value != int(value)):
        raise _Bad(field, f"must be {what}, got {value!r}")
    if not lo <= value <= hi:
        raise _Bad(field, f"must be {what}, got {value!r}")
    return float(value)


def _file(field: str, value: str, folder: Path) -> str:
    """A path relative to the persona file's folder; an avatar may also be a prepared avatar's name."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    if path.exists():
        return str(path)
    if field == "avatar" and "/" not in value and "." not in value:
        return value  # a prepared avatar's name: load_avatar says if there is none
    raise _Bad(field, f"names {value!r}, which does not exist (relative paths start at the persona file's folder)")


def _printable(name: str) -> str:
    """A field's name as the file wrote it, on one line (a key may hold a newline or a NUL)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _check_voice(persona: Persona, path: Path) -> None:
    """A voice the engine lacks is refused now, with the field to fix, not heard as another later."""
    try:
        persona.tts()
    except LivehumanError as e:
        raise LivehumanError(f"persona file {path}: 'voice' {persona.voice!r} cannot be used: {e}") from None


def load_personas(paths: Any) -> list[Persona]:
    """`serve --persona`: files, folders and loaded Personas (each folder's *.toml, *.yaml and *.yml in name order);
    none: the built-in persona. Two personas may not share a name (the page tells them apart by it)."""
    if paths is None or isinstance(paths, (str, Path, Persona)):
        paths = [] if paths is None else [paths]
    files: list[Path | Persona] = []
    for item in paths:
        if isinstance(item, Persona):  # loaded already
            files.append(item)
            continue
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in (".toml", ".yaml", ".yml"))
            if not found:
                raise LivehumanError(f"persona folder {item} has no .toml, .yaml or .yml files")
            files += found
        else:
            files.append(item)
    personas = [p if isinstance(p, Persona) else load_persona(p) for p in files] or [load_persona()]
    seen: dict[str, Persona] = {}
    for persona in personas:
        if persona.key in seen:
            raise LivehumanError(f"persona files {seen[persona.key].source} and {persona.source} both name "
                                 f"'{persona.name}': give each persona its own name")
        seen[persona.key] = persona
    return personas

