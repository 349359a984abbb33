"""Benchmarks: speed and lip-sync quality, printed and recorded in docs/benchmarks.md.

One module per bench, each run by `livehuman bench NAME` or `python -m livehuman.bench.NAME` with the
same flags; their options and defaults are in `options`. Tests import these modules only to test
the benches themselves: helpers that code and tests share live with the code they belong to.
"""

from __future__ import annotations


def run_as_script(name: str) -> None:
    """`python -m livehuman.bench.NAME ARGS` as `livehuman bench NAME ARGS`: one parser, one set of defaults."""
    import sys

    from livehuman.cli import main

    sys.exit(main(["bench", name, *sys.argv[1:]]))
