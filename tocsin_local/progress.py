"""Progress of long local commands (benchmarks, the fault campaign): counts and rates on a
terminal, nothing when the output is not one (CI logs, pipes)."""

from __future__ import annotations

import sys
from typing import Any


class _Quiet:
    """What a bar does when there is no terminal: nothing."""

    def update(self, count: int = 1) -> None:
        return

    def set_postfix_str(self, text: str) -> None:
        return

    def close(self) -> None:
        return

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *_: object) -> None:
        return


def bar(total: int | None, description: str, unit: str = "it") -> Any:
    """A progress bar on stderr (tqdm) when stderr is a terminal, else one that prints nothing."""
    if not sys.stderr.isatty():
        return _Quiet()
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:  # a dev dependency: without it, no bar
        return _Quiet()
    return tqdm(total=total, desc=description, unit=unit, leave=False, dynamic_ncols=True)
