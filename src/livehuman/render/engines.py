"""Choosing a render engine by name."""

from __future__ import annotations

from livehuman.errors import LivehumanError
from livehuman.render.engine import Engine

ENGINES = ("cpu", "musetalk")


def make_engine(name: str = "cpu", models_dir: str | None = None, head_motion: bool = True, *,
                device: str | None = None, dtype: str | None = None, compile: bool = False,
                batch_size: int | None = None) -> Engine:
    """The engine called `name`; musetalk needs the user's MuseTalk `models/` directory.

    device, dtype, compile and batch_size tune the musetalk engine (None: its defaults: the GPU when
    there is one, float16 there, batches of 8); the cpu engine has none of them.
    """
    musetalk_options = {"device": device, "dtype": dtype, "compile": compile or None, "batch_size": batch_size}
    given = {key: value for key, value in musetalk_options.items() if value is not None}
    if name == "cpu":
        if given:
            flags = ", ".join(f"--{key.replace('_', '-')}" for key in given)
            raise LivehumanError(f"{flags}: for --engine musetalk only (the cpu engine has no such option)")
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
        return MuseTalkEngine(models_dir, head_motion=head_motion, **given)
    raise LivehumanError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
