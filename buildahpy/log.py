"""Logging through structlog: a console renderer for people, JSON for machines, always on stderr."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


def configure(*, verbose: bool = False, fmt: str = "console") -> None:
    level = logging.DEBUG if verbose else logging.INFO
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("buildahpy").bind(**bound)


@contextmanager
def step(name: str, **fields: Any) -> Iterator[None]:
    """Log the start, end and duration of one pipeline step."""
    log = get_logger(step=name, **fields)
    log.info("start")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        log.info("failed", seconds=round(time.monotonic() - started, 2))
        raise
    log.info("done", seconds=round(time.monotonic() - started, 2))
