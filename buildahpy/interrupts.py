"""The signals that stop a build, counted so that none can be lost.

The handler raises Interrupted wherever Python happens to be. When that is inside a callback
whose exceptions Python only prints ("Exception ignored in ..."), such as the after-fork hooks
of ``logging`` while a tool is being started, the exception never reaches the build and the
build would go on. The handler counts each signal first; the tool runner compares the count
around starting and waiting for a child and raises the interrupt again when one was swallowed.
"""

from __future__ import annotations

from buildahpy.errors import Interrupted

_received: list[int] = []


def received(signum: int) -> None:
    """Called by the signal handler before it raises."""
    _received.append(signum)


def count() -> int:
    return len(_received)


def raise_if_swallowed(before: int) -> None:
    """Raise the interrupt that arrived since ``before`` and did not propagate.

    Reached only by code that ran on after it (an interrupt that propagated never gets here)."""
    if len(_received) > before:
        raise Interrupted(_received[-1])
