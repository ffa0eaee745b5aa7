"""A stop signal whose exception Python swallowed still stops the build (unit, real child)."""

from __future__ import annotations

import signal
import time

import pytest

from buildahpy import interrupts
from buildahpy.errors import Interrupted
from buildahpy.host import tools


def test_an_interrupt_swallowed_while_a_tool_starts_still_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = tools.sh.Command

    class Swallowing:
        """Starts the child, then the handler runs in a hook that prints its exception only."""

        def __init__(self, path: str) -> None:
            self.command = real(path)

        def __call__(self, *args: object, **kwargs: object) -> object:
            process = self.command(*args, **kwargs)
            interrupts.received(signal.SIGTERM)  # counted; the Interrupted raised was lost
            return process

    monkeypatch.setattr(interrupts, "_received", [])
    monkeypatch.setattr(tools.sh, "Command", Swallowing)
    started = time.monotonic()
    with pytest.raises(Interrupted) as caught:
        tools.run(["sleep", "30"])
    assert caught.value.exit_code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 20  # the child was stopped, not waited for


def test_an_interrupt_before_a_tool_started_is_not_raised_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(interrupts, "_received", [signal.SIGINT])  # delivered, being handled
    assert tools.run(["true"]).stdout == ""  # the cleanup's own tools still run
