"""Logging through structlog, always on stderr: short lines for people, JSON for machines.

Three levels of detail. Default: one line per step that does the work (``nginx  dnf install
15 packages  0.4 s``), the size report, warnings and errors. ``-v`` adds every step's start and
end, each command as it runs (``$ dnf ...``) and the tools' own output, with times. ``-q``: only
warnings and errors. With ``--log-format json`` every line is one JSON object, whatever it is.

An event may carry ``_text``: how the console shows it (a step line, the size report's block);
JSON shows its other fields instead. ``_raw`` events (the ``buildahpy: ...`` error line) get no
prefix; ``_json`` ones are not shown on the console at all. The recipe an event belongs to
(bound for the whole build with ``recipe_context``) prefixes its console lines, so lines of
builds that run at once stay apart.

A forked build logs ``relay`` lines (JSON with everything) into its log; the parent reads them as
they come and shows each through its own renderer (``replay``), one whole line at a time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import attrs
import structlog

QUIET, NORMAL, VERBOSE = 0, 1, 2
FORMATS = ("console", "json")
_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}
_settings: dict[str, Any] = {"verbosity": NORMAL, "fmt": "console"}


def configure(*, verbose: bool = False, quiet: bool = False, fmt: str = "console") -> None:
    """``fmt``: ``console``, ``json``, or ``relay`` (a forked build's log, see ``replay``)."""
    verbosity = VERBOSE if verbose else QUIET if quiet else NORMAL
    _settings.update(verbosity=verbosity, fmt=fmt)
    renderer: Any = _render_console
    if fmt == "json":
        renderer = _render_json
    elif fmt == "relay":
        renderer = structlog.processors.JSONRenderer(default=str)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _timestamp,
            *([] if fmt == "console" else [structlog.processors.format_exc_info]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[verbosity]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def verbosity() -> int:
    return int(_settings["verbosity"])


def log_format() -> str:
    return str(_settings["fmt"])


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("buildahpy").bind(**bound)


def context_logger() -> Any:
    """A logger carrying this thread's context (the recipe), for callbacks that run on
    another thread (a tool's output, read by sh's threads)."""
    return get_logger(**structlog.contextvars.get_contextvars())


@contextmanager
def recipe_context(name: str) -> Iterator[None]:
    """Every event logged inside names this recipe (the console's line prefix)."""
    with structlog.contextvars.bound_contextvars(recipe=name):
        yield


def error_line(message: str) -> None:
    """The one ``buildahpy: ...`` line of an error, shown at every verbosity."""
    get_logger().error("error", message=message, _text=f"buildahpy: {message}", _raw=True)


def plural(count: int, noun: str, many: str = "") -> str:
    """``1 package``, ``2 packages``; ``many`` for nouns that do not just take an s."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def human_size(size: float) -> str:
    """Decimal units with three significant digits, the way ``podman images`` prints sizes:
    every size buildahpy prints is one of these."""
    units = ["B", "kB", "MB", "GB", "TB"]
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    return f"{size:.3g} {units[index]}"


def _timestamp(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    event.setdefault("timestamp", datetime.now(UTC).isoformat(timespec="microseconds"))
    return event


def _render_json(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    fields = {k: v for k, v in event.items() if not k.startswith("_")}
    return json.dumps(fields, sort_keys=True, default=str)


def _value(value: Any) -> str:
    text = str(value)
    return text if text and " " not in text and "'" not in text else repr(text)


def _render_console(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    if event.pop("_json", False):
        raise structlog.DropEvent
    recipe = event.pop("recipe", None)
    stamp, level = str(event.pop("timestamp", "")), str(event.pop("level", "info"))
    name, text, raw = event.pop("event", ""), event.pop("_text", None), event.pop("_raw", False)
    exc_info, exception = event.pop("exc_info", None), event.pop("exception", None)
    if text is None:
        fields = "  ".join(f"{k}={_value(v)}" for k, v in event.items() if not k.startswith("_"))
        text = f"{name}  {fields}" if fields else str(name)
        text = f"{level}: {text}" if level in ("warning", "error", "critical") else text
    if isinstance(exc_info, BaseException):
        exception = "".join(traceback.format_exception(exc_info))
    if exception:
        text = f"{text}\n{str(exception).rstrip()}"
    if raw:
        return str(text)
    prefix = f"{recipe}  " if recipe else ""
    if verbosity() >= VERBOSE and stamp:
        prefix = f"{stamp[11:23]} {prefix}"
    return "\n".join(prefix + line for line in str(text).splitlines() or [""])


def replay(line: str, recipe: str) -> None:
    """Show one line of a forked build's log (``relay`` JSON, or anything it printed) as if it
    had been logged here."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or "event" not in record:
        record = {"event": "output", "level": "info", "line": line, "_text": line}
    level = str(record.pop("level", "info"))
    record.setdefault("recipe", recipe)
    method = getattr(get_logger(), level if level in _METHODS else "info")
    method(record.pop("event"), **record)


_METHODS = ("debug", "info", "warning", "error", "critical")


@attrs.define
class StepNote:
    """What a step's line says besides its name and time (``15 packages``); ``show`` overrides
    the step's own choice (a prune that removed nothing is no news)."""

    detail: str = ""
    show: bool | None = None


_STEP = "_buildahpy_step"


@contextmanager
def step(name: str, *, show: bool = False, **fields: Any) -> Iterator[StepNote]:
    """Log the start, end and duration of one pipeline step (``-v``); a ``show`` step is also
    one line by default, with what the body noted. An error that stops it is marked with the
    step's name (the innermost step's, when steps are nested)."""
    log = get_logger(step=name, **fields)
    log.debug("start")
    note = StepNote()
    started = time.monotonic()
    try:
        yield note
    except BaseException as exc:
        log.debug("failed", seconds=round(time.monotonic() - started, 2))
        if failed_step(exc) is None:
            with suppress(AttributeError):  # an exception type that takes no attributes
                setattr(exc, _STEP, name)
        raise
    seconds = round(time.monotonic() - started, 2)
    if not (show if note.show is None else note.show):
        log.debug("done", seconds=seconds)
        return
    line = "  ".join(part for part in (f"{name:<12}", note.detail, f"{seconds:.1f} s") if part)
    log.info("step", detail=note.detail, seconds=seconds, _text=line)


def failed_step(exc: BaseException) -> str | None:
    """The innermost ``step()`` that ``exc`` stopped, if any."""
    found = getattr(exc, _STEP, None)
    return found if isinstance(found, str) else None
