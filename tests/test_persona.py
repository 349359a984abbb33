"""Persona files: TOML and YAML, the example files, every kind of mistake in one line, and `serve --persona`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livehuman.brain.persona import Persona, load_persona, load_personas
from livehuman.errors import LivehumanError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "personas"

FULL = """\
name = "Rosa Lind"
avatar = "rosa"
language = "en"
greeting = "Hello, I am Rosa."
style = "cheerful"
system_prompt = "You answer questions about Mars."
knowledge = "mars.yaml"
expressiveness = 0.9

[voice]
engine = "espeak"
name = "en-gb"
rate = 180
pitch = 70

[brain]
kind = "realtime"
url = "ws://127.0.0.1:9000/v1"
model = "livehuman"
voice = "marin"

[idle]
blink_rate = 1.5
head_motion = 0.25
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_field_of_a_toml_persona_is_read(tmp_path):
    write(tmp_path, "mars.yaml", "- q: What colour is Mars?\n  a: Red.\n")
    p = load_persona(write(tmp_path, "rosa.toml", FULL))
    assert (p.name, p.key, p.avatar, p.language) == ("Rosa Lind", "rosa-lind", "rosa", "en")
    assert (p.greeting, p.style, p.instructions) == ("Hello, I am Rosa.", "cheerful", "You answer questions about Mars.")
    assert p.knowledge == str(tmp_path / "mars.yaml")  # relative to the persona file's folder
    assert (p.voice_engine, p.voice, p.voice_rate, p.voice_pitch) == ("espeak", "en-gb", 180, 70)
    assert (p.brain, p.brain_url, p.brain_model, p.brain_voice) == ("realtime", "ws://127.0.0.1:9000/v1", "livehuman", "marin")
    assert (p.blink_rate, p.head_motion, p.expressiveness) == (1.5, 0.25, 0.9)
    assert p.source == str(tmp_path / "rosa.toml")
    prompt = p.system_prompt()
    assert "Your name is Rosa Lind." in prompt and "Mars" in prompt and "cheerful" in prompt


def test_the_persona_voice_speaks_at_its_rate_and_pitch(tmp_path):
    slow = load_persona(write(tmp_path, "slow.toml", '[voice]\nname = "en-us"\nrate = 100\npitch = 20\n'))
    fast = load_persona(write(tmp_path, "fast.toml", '[voice]\nname = "en-us"\nrate = 300\npitch = 90\n'))
    text = "The quick brown fox jumps over the lazy dog."
    a, b = (next(iter(p.tts().sentences(text))).audio for p in (slow, fast))
    assert a.duration > 2.0 * b.duration  # 100 against 300 words per minute
    from livehuman.emotion.voice import prosody

    pa, pb = (prosody(x.samples, x.rate) for x in (a, b))
    assert pb.pitch_hz > 1.3 * pa.pitch_hz  # pitch 90 against 20


def test_yaml_personas_of_earlier_versions_still_load(tmp_path):
    p = load_persona(write(tmp_path, "p.yaml", "name: Max\ngreeting: Hello, I'm Max.\nvoice: en-gb\n"))
    assert (p.name, p.voice, p.voice_engine, p.language, p.brain) == ("Max", "en-gb", "espeak", "en", "offline")
    built_in = load_persona()
    assert built_in.name == "Ava" and built_in.greeting and built_in.instructions
    assert Persona().name == "Ava"  # every field has a default


def test_the_examples_load_and_a_folder_gives_every_persona():
    personas = load_personas([EXAMPLES])
    assert [p.name for p in personas] == ["Ava", "Max"]
    ava, maxi = personas
    assert ava.greeting and ava.instructions and ava.avatar == "default"
    assert (maxi.voice, maxi.voice_pitch, maxi.head_motion) == ("en-gb", 35, 0.5)
    assert [p.name for p in load_personas(None)] == ["Ava"]  # none given: the built-in one
    again = load_personas([EXAMPLES / "max.toml", ava])  # files and loaded personas, in the order given
    assert [p.name for p in again] == ["Max", "Ava"]


@pytest.mark.parametrize("name,text,words", [
    ("a.toml", 'name = "A"\nmood = "grumpy"\n', ["'mood'", "not a persona field", "allowed: name"]),
    ("a.toml", 'name = "A\n', ["not valid TOML", "line 1"]),
    ("a.yaml", "name: [unclosed\n", ["not valid YAML"]),
    ("a.yaml", "- just\n- a list\n", ["must be a table of fields"]),
    ("a.toml", 'name = ""\n', ["'name'", "must not be empty"]),
    ("a.toml", "greeting = ['hi']\n", ["'greeting'", "must be text, got a list"]),
    ("a.toml", "expressiveness = 2\n", ["'expressiveness'", "from 0 to 1, got 2"]),
    ("a.toml", 'expressiveness = "lots"\n', ["'expressiveness'", "got 'lots'"]),
    ("a.toml", "[voice]\nrate = 1000\n", ["'voice.rate'", "whole number from 80 to 450, got 1000"]),
    ("a.toml", "[voice]\nrate = 150.5\n", ["'voice.rate'", "whole number"]),
    ("a.toml", "[voice]\npitch = -3\n", ["'voice.pitch'", "from 0 to 100"]),
    ("a.toml", '[voice]\nengine = "festival"\n', ["'voice.engine'", "espeak, flite", "'festival'"]),
    ("a.toml", '[voice]\nspeed = 2\n', ["'voice.speed'", "not a field of [voice]", "allowed: engine, name, rate, pitch"]),
    ("a.toml", '[voice]\nname = "xx-nobody"\n', ["'voice'", "'xx-nobody'", "unknown espeak-ng voice"]),
    ("a.toml", '[voice]\nengine = "flite"\nname = "slt"\nrate = 200\n', ["'voice.rate'", "espeak voices only"]),
    ("a.toml", '[voice]\nengine = "flite"\nname = "en-us"\n', ["'voice'", "unknown flite voice 'en-us'"]),
    ("a.toml", '[brain]\nkind = "gpt"\n', ["'brain.kind'", "offline, openai, realtime", "'gpt'"]),
    ("a.toml", '[brain]\nkind = "realtime"\n', ["'brain.url'", "needed for the realtime brain"]),
    ("a.toml", '[brain]\nurl = "http://x"\n', ["'brain.url'", "ws:// or wss://"]),
    ("a.toml", "brain = 3.5\n", ["'brain.kind'", "got 3.5"]),
    ("a.toml", "idle = 2\n", ["'idle'", "must be a table of blink_rate, head_motion"]),
    ("a.toml", "[idle]\nblink_rate = 9\n", ["'idle.blink_rate'", "from 0 to 3"]),
    ("a.toml", "[idle]\nhead_motion = true\n", ["'idle.head_motion'", "got True"]),
    ("a.toml", 'knowledge = "missing.yaml"\n', ["'knowledge'", "'missing.yaml'", "does not exist"]),
    ("a.toml", 'avatar = "faces/me.jpg"\n', ["'avatar'", "does not exist"]),
    ("a.toml", 'system_prompt = "x"\ninstructions = "y"\n', ["'system_prompt'", "same field"]),
    ("a.json", "{}", [".toml, .yaml or .yml"]),
    ("a.toml", '[page]\naccent = "red; background: url(x)"\n', ["'page.accent'", "must be a CSS colour"]),
    ("a.toml", '[page]\nbackground = "#12345"\n', ["'page.background'", "must be a CSS colour", "'#12345'"]),
    ("a.toml", '[page]\ntext = "notacolour"\n', ["'page.text'", "must be a CSS colour"]),
    ("a.toml", '[page]\ntitle = ""\n', ["'page.title'", "must not be empty"]),
    ("a.toml", '[page]\ntitle = "' + "x" * 81 + '"\n', ["'page.title'", "at most 80 characters"]),
    ("a.toml", '[page]\nlogo = "logo.png"\n', ["'page.logo'", "'logo.png'", "not a file"]),
    ("a.toml", '[page]\nlogo = "a.toml"\n', ["'page.logo'", "not a PNG, JPEG, GIF, WebP or SVG image"]),
    ("a.toml", '[page]\nlogo = "http://shop.example/logo.png"\n', ["'page.logo'", "https:// URL"]),
    ("a.toml", '[page]\nlogo = "https://x/a\\"onerror=alert(1)"\n', ["'page.logo'", "https:// URL"]),
    ("a.toml", '[page]\nfont = "Comic Sans"\n', ["'page.font'", "allowed: title, accent, background, text, logo"]),
])
def test_a_bad_persona_file_is_refused_naming_the_field_and_the_problem(tmp_path, name, text, words):
    path = write(tmp_path, name, text)
    with pytest.raises(LivehumanError) as err:
        load_persona(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"persona file {path}")
    for word in words:
        assert word in message, message


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a1c7d9b60000000049454e44ae426082")


def test_the_page_table_themes_the_page_with_checked_colours_and_a_logo(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.png").write_bytes(PNG)
    p = load_persona(write(tmp_path, "shop.toml", """\
name = "Ada"
[page]
title = "  Ada,   your <b>shop</b> assistant "
accent = "#e0562b"
background = "ivory"
text = "rgb(34 34 34 / 90%)"
logo = "img/logo.png"
"""))
    # The title's spaces are tidied (its markup is escaped by the server, not here); the logo is
    # found next to the persona file.
    assert p.theme.title == "Ada, your <b>shop</b> assistant"
    assert (p.theme.accent, p.theme.background, p.theme.text) == ("#e0562b", "ivory", "rgb(34 34 34 / 90%)")
    assert p.theme.logo == str((tmp_path / "img" / "logo.png").resolve())
    assert p.theme.public("ada")["logo"] == "/logos/ada"
    remote = load_persona(write(tmp_path, "r.toml", '[page]\nlogo = "https://shop.example/logo.svg"\n'))
    assert remote.theme.public("ava")["logo"] == "https://shop.example/logo.svg"
    assert load_persona(write(tmp_path, "plain.toml", "")).theme.public("ava") == dict.fromkeys(
        ("title", "accent", "background", "text", "logo"))


def test_serve_refuses_bad_theme_flags_in_one_line(tmp_path):
    from livehuman.theme import theme_from_flags

    (tmp_path / "logo.png").write_bytes(PNG)
    theme = theme_from_flags(title="Shop", accent="teal", logo=str(tmp_path / "logo.png"))
    assert (theme.title, theme.accent, theme.logo) == ("Shop", "teal", str(tmp_path / "logo.png"))
    for flags, words in (({"accent": "url(javascript:x)"}, ["--accent", "CSS colour"]),
                         ({"logo": str(tmp_path)}, ["--logo", "not a file"]),
                         ({"title": " "}, ["--title", "must not be empty"])):
        with pytest.raises(LivehumanError) as err:
            theme_from_flags(**flags)
        assert all(w in str(err.value) for w in words), str(err.value)
    result = livehuman("serve", "--accent", "nope", "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livehuman: error: --accent must be a CSS colour"), result.stderr
    assert "warming up" not in result.stdout


def test_missing_files_empty_folders_and_twin_names_are_refused(tmp_path):
    with pytest.raises(LivehumanError, match="persona file not found: .*nope.toml"):
        load_persona(tmp_path / "nope.toml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LivehumanError, match="persona folder .*empty has no .toml"):
        load_personas([tmp_path / "empty"])
    a = write(tmp_path, "a.toml", 'name = "Sam"\n')
    b = write(tmp_path, "b.yaml", "name: sam\n")
    with pytest.raises(LivehumanError, match="both name 'sam'"):
        load_personas([a, b])


def test_an_empty_file_is_the_built_in_persona(tmp_path):
    p = load_persona(write(tmp_path, "empty.toml", ""))
    assert (p.name, p.voice, p.expressiveness) == ("Ava", "en-us+f3", 0.7)


def test_a_flite_persona_speaks_with_flite(tmp_path):
    p = load_persona(write(tmp_path, "f.toml", '[voice]\nengine = "flite"\nname = "kal"\n'))
    speech = list(p.tts().sentences("Hello there. How are you?"))
    assert len(speech) == 2 and all(s.phones for s in speech)
    assert all(np.abs(s.audio.samples).max() > 0.05 for s in speech)


def livehuman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livehuman.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_serve_refuses_a_bad_persona_in_one_line_before_loading_anything(tmp_path):
    bad = write(tmp_path, "bad.toml", "[voice]\nrate = 1000\n")
    result = livehuman("serve", "--persona", str(EXAMPLES / "ava.toml"), "--persona", str(bad), "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("livehuman: error: persona file") and "'voice.rate'" in lines[0] and "bad.toml" in lines[0]
    assert "warming up" not in result.stdout  # refused before the models
