"""The page's look: its title, colours and logo, from a persona's `[page]` table or `serve` flags.

Everything here is checked before it reaches a page: a colour must be CSS colour syntax made of
safe characters only (#rgb, #rrggbb, #rrggbbaa, a CSS colour name, or rgb()/hsl() with numbers), a
logo an image file (PNG, JPEG, GIF, WebP or SVG, by its content) or an https URL. The server then
puts the colours in CSS custom properties and the title in escaped text (live/server.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

MAX_TITLE = 80  # characters
MAX_LOGO_BYTES = 1024 * 1024
# CSS Color Module level 4 named colours.
NAMED_COLOURS = frozenset("""
aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown
burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan
darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid
darkred darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet
deeppink deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro
ghostwhite gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki
lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow
lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray
lightslategrey lightsteelblue lightyellow lime limegreen linen magenta maroon mediumaquamarine
mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen mediumturquoise
mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive olivedrab
orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru
pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan
teal thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen
""".split())
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:%|deg)?"
_FUNCTION = re.compile(rf"^(?:rgba?|hsla?)\(\s*{_NUM}(?:\s*[,\s]\s*{_NUM}){{2}}(?:\s*[,/]\s*{_NUM})?\s*\)$")
COLOUR_HINT = "a CSS colour (#rrggbb, #rgb, a name such as teal, or rgb(…))"
IMAGE_HINT = "a PNG, JPEG, GIF, WebP or SVG image file, or an https:// URL"


def css_colour(value: str) -> str:
    """`value` as a CSS colour safe to put in a style; ValueError saying what a colour must be."""
    text = value.strip() if isinstance(value, str) else ""
    if _HEX.match(text) or _FUNCTION.match(text) or text.lower() in NAMED_COLOURS:
        return text
    raise ValueError(f"must be {COLOUR_HINT}, got {value!r}")


def image_type(path: Path) -> str | None:
    """The image's media type from its first bytes (None: not an image the page can show)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in text):
        return "image/svg+xml"
    return None


def logo_source(value: str, folder: Path | None = None) -> str:
    """An https URL as it is, or an image file's full path (relative ones start at `folder`);
    ValueError saying what is wrong."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower().startswith(("https://", "http://")):
        parts = urlsplit(text)
        if parts.scheme != "https" or not parts.netloc or re.search(r"[\s\"'<>\\]", text):
            raise ValueError(f"must be {IMAGE_HINT}, got {value!r}")
        return text
    if not text:
        raise ValueError(f"must be {IMAGE_HINT}, got {value!r}")
    path = Path(text).expanduser()
    if not path.is_absolute() and folder is not None:
        path = folder / path
    if not path.is_file():
        raise ValueError(f"names {value!r}, which is not a file")
    try:
        kind = image_type(path)
        size = path.stat().st_size
    except OSError as e:
        raise ValueError(f"names {value!r}, which cannot be read: {e.strerror or e}") from None
    if kind is None:
        raise ValueError(f"names {value!r}, which is not {IMAGE_HINT.split(', or')[0]}")
    if size > MAX_LOGO_BYTES:
        raise ValueError(f"names {value!r}, which is larger than {MAX_LOGO_BYTES // 1024} kB")
    return str(path.resolve())


def page_title(value: str) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_TITLE:
        raise ValueError(f"must be at most {MAX_TITLE} characters, got {len(text)}")
    return text


CHECKS = {"title": page_title, "accent": css_colour, "background": css_colour, "text": css_colour}


@dataclass(frozen=True)
class PageTheme:
    """What a persona or the flags set of the page's look; None: the page's own."""

    title: str | None = None
    accent: str | None = None
    background: str | None = None
    text: str | None = None
    logo: str | None = None  # an image file's full path, or an https URL

    def over(self, other: PageTheme) -> PageTheme:
        """This theme where it says something, `other` elsewhere (flags over a persona's)."""
        return replace(other, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)})

    def logo_url(self, key: str) -> str | None:
        """Where a page loads the logo: the URL, or the server's /logos/KEY for a file."""
        if not self.logo:
            return None
        return self.logo if self.logo.startswith("https://") else f"/logos/{key}"

    def public(self, key: str) -> dict:
        """What a page needs (GET /personas): title, colours, the logo's address."""
        return {"title": self.title, "accent": self.accent, "background": self.background, "text": self.text,
                "logo": self.logo_url(key)}


def theme_from_flags(title: str | None = None, accent: str | None = None, logo: str | None = None) -> PageTheme:
    """`serve --title/--accent/--logo`, checked; LivehumanError naming the flag."""
    from livehuman.errors import LivehumanError

    values = {}
    for flag, value, check in (("title", title, page_title), ("accent", accent, css_colour),
                               ("logo", logo, logo_source)):
        if value is None:
            continue
        try:
            values[flag] = check(value)
        except ValueError as e:
            raise LivehumanError(f"--{flag} {e}") from None
    return PageTheme(**values)
