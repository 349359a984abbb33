"""Touch: the page's click or tap on the face becomes a zone, an expression and a short spoken line.

The zone comes from the avatar's own landmarks for the frame shown (avatar/zones.py). Each zone
has an expression (on the renderer's expression channels, apart from lip sync) and a line: the
persona's own from its `[touch]` table, else a default in its language (en, zh, ja; English
otherwise). A touch that cuts the avatar short opens its line with a polite "Oh!". Touches come at
most one per TOUCH_INTERVAL; the others are ignored, so rapid clicks never queue lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from livehuman.avatar.zones import ZONES, zone_at

TOUCH_INTERVAL = 1.5  # s: one reaction at most in this time; touches in between are ignored

# zone → (expression, strength before the persona's expressiveness, a reflex blink)
REACTIONS: dict[str, tuple[str, float, bool]] = {
    "forehead": ("surprise", 0.6, False),
    "eyes": ("surprise", 0.4, True),  # a blink, and mild surprise
    "cheek": ("joy", 0.8, False),
    "nose": ("surprise", 0.8, False),  # playful: a "boop"
    "mouth": ("surprise", 0.6, False),
    "chin": ("joy", 0.5, False),
    "hair": ("joy", 0.8, False),
}

LINES: dict[str, dict[str, str]] = {
    "en": {
        "forehead": "Hey, that's my forehead!",
        "eyes": "Ouch, careful with my eyes!",
        "cheek": "Hehe, that tickles!",
        "nose": "Boop! You got my nose.",
        "mouth": "Mmph! I can't talk like that.",
        "chin": "My chin? I'm thinking, I promise.",
        "hair": "Hey, don't mess up my hair!",
    },
    "zh": {
        "forehead": "哎，那是我的额头！",
        "eyes": "哎哟，小心我的眼睛！",
        "cheek": "嘻嘻，好痒！",
        "nose": "你摸到我的鼻子啦！",
        "mouth": "唔，这样我没法说话啦。",
        "chin": "摸我的下巴做什么呀？",
        "hair": "别弄乱我的头发！",
    },
    "ja": {
        "forehead": "あ、おでこですね！",
        "eyes": "いたっ、目は気をつけてください！",
        "cheek": "ふふ、くすぐったいです！",
        "nose": "鼻を触りましたね！",
        "mouth": "むぐっ、それじゃ話せません。",
        "chin": "あごがどうかしましたか？",
        "hair": "髪が乱れちゃいますよ！",
    },
}
CUT = {"en": "Oh!", "zh": "哦！", "ja": "おっと！"}  # said first when the touch cuts the avatar short
# How a remote brain (no verbatim speech) is told; it answers in its own words.
ASK = ("(The user just touched your {part} on the screen. React in one short, playful sentence, "
       "for example: \"{line}\")")
PARTS = {"forehead": "forehead", "eyes": "eyes", "cheek": "cheek", "nose": "nose", "mouth": "mouth",
         "chin": "chin", "hair": "hair"}


@dataclass(frozen=True)
class TouchReaction:
    """What the avatar does when `zone` is touched: shows `expression` at `strength` (expressiveness
    applied), blinks if `blink`, and says `line`."""

    zone: str
    expression: str
    strength: float
    blink: bool
    line: str


def language_of(persona: object) -> str:
    """The persona's language as LINES names it ('zh-cn' → 'zh'); English where LINES has none."""
    code = str(getattr(persona, "language", "en") or "en").lower().replace("_", "-").split("-")[0]
    return code if code in LINES else "en"


def touch_reaction(zone: str, persona: object = None, count: int = 0, cut: bool = False) -> TouchReaction:
    """The reaction to a touch on `zone`; `count` picks among the persona's lines for it in turn,
    `cut`: the touch interrupts the avatar, so the line opens with a polite "Oh!"."""
    if zone not in REACTIONS:
        raise ValueError(f"unknown face zone {zone!r}: one of {', '.join(ZONES)}")
    expression, strength, blink = REACTIONS[zone]
    expressiveness = min(max(float(getattr(persona, "expressiveness", 0.7)), 0.0), 1.0)
    language = language_of(persona)
    own = dict(getattr(persona, "touch", ()) or ()).get(zone)
    line = own[count % len(own)] if own else LINES[language][zone]
    if cut:
        line = f"{CUT[language]}{' ' if language == 'en' else ''}{line}"
    return TouchReaction(zone, expression, round(strength * expressiveness, 3), blink, line)


def touched_zone(avatar, frame_index: int, x: float, y: float) -> str | None:
    """The zone of `avatar` under (x, y) (0..1 of the video frame) on output frame `frame_index`."""
    landmarks = avatar.landmarks[avatar.source_index(frame_index)]
    return zone_at(landmarks, avatar.size, x, y)


class TouchLimiter:
    """One touch reaction per `interval` seconds; `clock` is injectable for tests."""

    def __init__(self, interval: float = TOUCH_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = float(interval)
        self.clock = clock
        self._last: float | None = None

    def allow(self) -> bool:
        """Whether a touch now gets a reaction (and, if so, the next must wait `interval`)."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True
