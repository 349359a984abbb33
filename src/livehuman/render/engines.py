"""Choosing a render engine by name."""

from __future__ import annotations

from livehuman.errors import LivehumanError
from livehuman.render.engine import Engine

ENGINES = ("cpu", "musetalk")


def make_engine(name: str = "cpu", models_dir: str | None = None, head_motion: bool = True) -> Engine:
    """The engine called `name`; musetalk needs the user's MuseTalk `models/` directory."""
    if name == "cpu":
        from livehuman.render.cpu.engine import CpuEngine

        return CpuEngine(head_motion=head_motion)
    if name == "musetalk":
        if not models_dir:
            raise LivehumanError("the musetalk engine needs --models DIR (MuseTalk's models/ folder); see docs/musetalk.md")
        try:
            from livehuman.render.musetalk.engine import MuseTalkEngine
        except ImportError as exc:
            raise LivehumanError(
                f"the musetalk engine needs the musetalk extra ({exc.name} is missing): pip install 'livehuman[musetalk]'"
            ) from None
        return MuseTalkEngine(models_dir)
    raise LivehumanError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
