"""The error tree. Each error is one line for the user; ``__main__`` maps types to exit codes."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class BuildahpyError(Exception):
    """A failure the user can act on; the message is printed once, on one line."""

    exit_code = 1


class UsageError(BuildahpyError):
    """Bad command line, or a value that cannot be determined before anything is created."""

    exit_code = 2


class RecipeError(BuildahpyError):
    """A recipe file that cannot load, or a recipe that asks for something invalid."""

    exit_code = 2


class PreflightError(BuildahpyError):
    """The host cannot build: a tool is missing or the environment is unusable."""

    exit_code = 2


class BuildError(BuildahpyError):
    """A build step failed (a bad value from a recipe, a rootfs edit that cannot be done)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; carries the exit code (128 + signal number).

    A BaseException, like KeyboardInterrupt, so ``except Exception`` in recipes cannot swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.exit_code = 128 + signum


def stderr_tail(text: str, lines: int = 3, width: int = 400) -> str:
    """The last non-empty lines of a tool's stderr, joined on one line."""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= width else "..." + joined[-width:]


class CommandError(BuildahpyError):
    """A tool exited non-zero. Carries argv, the exit code and the tail of stderr."""

    def __init__(
        self, argv: Sequence[str], exit_code: int, stderr: str, *, hint: str = "", stdout: str = ""
    ) -> None:
        self.argv = list(argv)
        self.returncode = exit_code
        self.stderr = stderr
        self.stdout = stdout
        self.hint = hint
        tail = stderr_tail(stderr) or "no output on stderr"
        message = f"{shlex.join(self.argv[:8])}{' ...' if len(argv) > 8 else ''} "
        message += f"exited {exit_code}: {tail}"
        if hint:
            message = f"{hint}: {message}"
        super().__init__(message)
