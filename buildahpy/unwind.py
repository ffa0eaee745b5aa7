"""Undo steps that never hide the error they unwind.

A build registers each undo (unmount, remove the container, drop the pending image name ...) on
an ExitStack. When an undo fails while an error is already unwinding the stack, a plain
ExitStack raises the undo's error in its place, and the user is told "cannot unmount the working
container" instead of "package not found". ``UnwindStack`` keeps the first error and notes each
failed undo on it; the command line prints the error, then one warning per failed undo. An undo
that fails when nothing else did is the error, as before. Starts no process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, suppress
from types import TracebackType
from typing import Any, TypeVar

from buildahpy.errors import BuildahpyError
from buildahpy.log import get_logger

_T = TypeVar("_T")
_ExitFunc = Callable[
    [type[BaseException] | None, BaseException | None, TracebackType | None], bool | None
]
_NOTES = "_buildahpy_cleanup_failures"


def cleanup_failures(exc: BaseException) -> tuple[str, ...]:
    """What failed while ``exc`` unwound a build's undo steps, in the order they ran."""
    return tuple(getattr(exc, _NOTES, ()))


def note_cleanup_failure(exc: BaseException, failure: Exception, what: str) -> None:
    message = (
        str(failure)
        if isinstance(failure, BuildahpyError)
        else (f"{what}: {type(failure).__name__}: {failure}")
    )
    get_logger().debug("cleanup failed", step=what, cause=message)
    with suppress(AttributeError):  # an exception without attributes: the debug line is all
        setattr(exc, _NOTES, [*cleanup_failures(exc), message])


def _guarded(exit_func: _ExitFunc, what: str) -> _ExitFunc:
    def guarded(
        exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        try:
            return bool(exit_func(exc_type, exc, tb))
        except Exception as failure:
            if exc is None:
                raise
            note_cleanup_failure(exc, failure, what)
            return False

    return guarded


def _name(thing: object) -> str:
    name = str(getattr(thing, "__qualname__", None) or type(thing).__qualname__)
    return name.rsplit("<locals>.", 1)[-1]


class UnwindStack(ExitStack):
    """An ExitStack whose undo steps, however registered, cannot replace the error that runs
    them (see the module's docstring)."""

    def callback(
        self, callback: Callable[..., _T], /, *args: Any, **kwds: Any
    ) -> Callable[..., _T]:
        def exit_func(*_: object) -> None:
            callback(*args, **kwds)

        super().push(_guarded(exit_func, _name(callback)))
        return callback

    def push(self, exit: Any) -> Any:
        method = getattr(type(exit), "__exit__", None)
        if method is None:
            super().push(_guarded(exit, _name(exit)))
        else:
            super().push(_guarded(lambda *details: method(exit, *details), _name(type(exit))))
        return exit

    def enter_context(self, cm: AbstractContextManager[_T]) -> _T:
        kind = type(cm)
        what = _name(getattr(cm, "func", kind))  # @contextmanager's generator (gone once entered)
        result = kind.__enter__(cm)
        exit_method = kind.__exit__
        super().push(_guarded(lambda *details: exit_method(cm, *details), what))
        return result
