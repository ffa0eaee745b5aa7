"""Logging through structlog: a console renderer for people, JSON for machines, always on stderr."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import structlog


def configure(*, verbose: bool = False, fmt: str = "console") -> None:
    level = logging.DEBUG if verbose else logging.INFO
    renderer: Any
    tracebacks: list[Any] = []  # the console renderer prints exc_info itself
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
        tracebacks = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("buildahpy").bind(**bound)


_STEP = "_buildahpy_step"


@contextmanager
def step(name: str, **fields: Any) -> Iterator[None]:
    """Log the start, end and duration of one pipeline step; an error that stops it is marked
    with the step's name (the innermost step's, when steps are nested)."""
    log = get_logger(step=name, **fields)
    log.info("start")
    started = time.monotonic()
    try:
        yield
    except BaseException as exc:
        log.info("failed", seconds=round(time.monotonic() - started, 2))
        if failed_step(exc) is None:
            with suppress(AttributeError):  # an exception type that takes no attributes
                setattr(exc, _STEP, name)
        raise
    log.info("done", seconds=round(time.monotonic() - started, 2))


def failed_step(exc: BaseException) -> str | None:
    """The innermost ``step()`` that ``exc`` stopped, if any."""
    found = getattr(exc, _STEP, None)
    return found if isinstance(found, str) else None
