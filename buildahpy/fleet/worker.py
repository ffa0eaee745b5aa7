"""One build as the fleet scheduler runs it: a Job in, an Outcome out.

``run_job`` builds exactly as a single build does (build.py, with its ExitStack cleanup and its
SIGINT/SIGTERM handling). In a parallel run ``build_in_child`` does so in a forked process and
leaves the outcome as a pickle in the run's private directory for the scheduler.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from itertools import pairwise
from pathlib import Path
from typing import NoReturn

import attrs

from buildahpy import log
from buildahpy.api.recipe import Recipe
from buildahpy.build.context import BuildResult, Extras
from buildahpy.build.multiarch import ArchPart, build_arches
from buildahpy.build.pipeline import build
from buildahpy.errors import BuildahpyError, Interrupted
from buildahpy.log import failed_step, get_logger
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options
from buildahpy.unwind import cleanup_failures


@attrs.frozen
class Job:
    recipe_name: str
    options: Options
    host: HostRelease
    flavour: str
    extras: Extras = attrs.Factory(Extras)
    parts: tuple[ArchPart, ...] = ()  # a multi-arch recipe: one per architecture (multiarch.py)


@attrs.frozen
class Outcome:
    result: BuildResult | None = None
    error: str = ""  # one line, as the single-build command line prints it
    exit_code: int = 0
    warnings: tuple[str, ...] = ()  # undo steps that failed after the error (unwind.py)


def run_job(job: Job, recipe: Recipe) -> Outcome:
    try:
        if job.parts:
            result = build_arches(
                recipe, job.options, job.parts, host=job.host, flavour=job.flavour
            )
        else:
            result = build(
                recipe, job.options, host=job.host, flavour=job.flavour, extras=job.extras
            )
    except BuildahpyError as exc:
        if exc.__cause__ is not None:  # a recipe's own exception: its traceback, with -v
            get_logger(recipe=recipe.name).debug("recipe raised", exc_info=exc.__cause__)
        return Outcome(error=str(exc), exit_code=exc.exit_code, warnings=cleanup_failures(exc))
    except Exception as exc:  # an OSError, a tool's output we cannot parse, a bug: one line too
        get_logger(recipe=recipe.name).debug("unexpected error", exc_info=exc)  # with -v
        return Outcome(error=unexpected_error(exc), exit_code=1, warnings=cleanup_failures(exc))
    return Outcome(result=result)


def unexpected_error(exc: Exception, default_step: str = "build") -> str:
    """The one line for an error of no buildahpy type: the step it stopped, its type, its text."""
    return f"step {stopped_step(exc, default_step)}: {type(exc).__name__}: {exc}"


def stopped_step(exc: BaseException, default: str = "build") -> str:
    """The innermost ``step()`` that was under way, else the build.py step function the error
    came out of (not every step function logs itself as a step), else ``default``."""
    named = failed_step(exc)
    if named is not None and named != "build":
        return named
    frames = traceback.extract_tb(exc.__traceback__)
    here = build.__code__.co_filename
    for outer, inner in pairwise(frames):
        if (outer.filename, outer.name, inner.filename) == (here, build.__name__, here):
            return inner.name.replace("_", " ")
    return named or default


def write_outcome(path: Path, outcome: Outcome) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(outcome))
    os.replace(partial, path)  # the scheduler never reads half an outcome


def build_in_child(job: Job, recipe: Recipe, log_path: Path, result_path: Path) -> NoReturn:
    """The body of a forked build: output to its log, the outcome to a file, then os._exit, so
    nothing of the parent's (its finally blocks, its atexit handlers) runs twice."""
    code = 70  # EX_SOFTWARE: a bug, should anything below fail unexpectedly
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.close(null_fd)
        # what the recipe prints, too, whatever sys.stdout was in the parent
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process
        log.configure(
            verbose=log.verbosity() >= log.VERBOSE, quiet=log.verbosity() <= log.QUIET, fmt="relay"
        )
        outcome = run_job(job, recipe)
        write_outcome(result_path, outcome)
        code = outcome.exit_code
    except Interrupted as exc:
        warnings = cleanup_failures(exc)
        done = "" if warnings else "; its container was removed"
        log.error_line(f"{recipe.name}: {exc}{done}")
        for warning in warnings:
            get_logger().warning("cleanup failed", recipe=recipe.name, cause=warning)
        code = exc.exit_code
    except BaseException:  # report anything, then leave without unwinding
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
