"""Progress while a fleet builds: a live status line on a terminal, log lines otherwise.

On a terminal (parallel runs only: a single build's own log is the progress there) each finished
image prints one line and a status line below it is redrawn: what is running, for how long, and
the counts so far. Otherwise every start and finish is one structlog line on stderr.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TYPE_CHECKING, TextIO

from buildahpy.log import error_line, get_logger, replay

if TYPE_CHECKING:
    from buildahpy.fleet.fleet import Entry

_CLEAR = "\r\x1b[K"


def report_error(entry: Entry) -> None:
    """The one line a failed build prints, as a single build always has."""
    error_line(f"{entry.name}: {entry.error}")


def cleanup_warnings(entry: Entry) -> None:
    """After the error line: each undo step that failed while the error unwound the build."""
    for warning in entry.warnings:
        get_logger().warning("cleanup failed", recipe=entry.name, cause=warning)


class LogProgress:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def started(self, entry: Entry) -> None:
        get_logger().debug("started", recipe=entry.name, tag=entry.node.recipe.tag)

    def finished(self, entry: Entry) -> None:
        if entry.status == "failed":
            report_error(entry)
            cleanup_warnings(entry)
        elif entry.status == "skipped":
            get_logger().warning("skipped", recipe=entry.name, cause=entry.error)
        else:
            seconds = f"  {entry.seconds:.1f} s" if entry.status == "built" else ""
            line = f"{entry.status:<12}  {entry.node.recipe.tag}  {entry.image_id[:12]}{seconds}"
            get_logger().info(
                entry.status,
                recipe=entry.name,
                tag=entry.node.recipe.tag,
                image_id=entry.image_id,
                seconds=entry.seconds,
                _text=line,
            )

    def tick(self) -> None:
        """Nothing to redraw."""

    def relay(self, recipe: str, lines: list[str]) -> None:
        for line in lines:
            replay(line, recipe)

    def close(self) -> None:
        """Nothing to clear."""


class LiveProgress:
    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total = stream, total
        self.running: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.last_draw = 0.0

    def started(self, entry: Entry) -> None:
        self.running[entry.name] = time.monotonic()
        self.draw()

    def finished(self, entry: Entry) -> None:
        self.running.pop(entry.name, None)
        self.counts[entry.status] = self.counts.get(entry.status, 0) + 1
        if entry.status == "failed":
            self.stream.write(_CLEAR)
            self.stream.flush()
            report_error(entry)
            cleanup_warnings(entry)
        else:
            detail = f" ({entry.error})" if entry.error else f" {entry.seconds:.1f}s"
            self.stream.write(f"{_CLEAR}{entry.status:>10}  {entry.name}{detail}\n")
        self.draw()

    def tick(self) -> None:
        if time.monotonic() - self.last_draw >= 0.5:
            self.draw()

    def relay(self, recipe: str, lines: list[str]) -> None:
        """A running build's log lines, above the status line."""
        self.stream.write(_CLEAR)
        self.stream.flush()
        for line in lines:
            replay(line, recipe)
        self.draw()

    def status_line(self, now: float) -> str:
        done = sum(self.counts.values())
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        running = ", ".join(f"{name} {now - t:.0f}s" for name, t in self.running.items())
        return f"[{done}/{self.total}] {counts or 'starting'}" + (
            f" | running: {running}" if running else ""
        )

    def draw(self) -> None:
        self.last_draw = time.monotonic()
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write(_CLEAR + self.status_line(self.last_draw)[:width])
        self.stream.flush()

    def close(self) -> None:
        self.stream.write(_CLEAR)
        self.stream.flush()
