"""Rootless builds: buildahpy runs itself again, once, under ``buildah unshare``.

Host binaries: buildah (``buildah unshare``).

A mount made by ``buildah mount`` exists only in the user and mount namespace that made it, so
the whole build (from, mount, dnf, edits, config, commit, umount, rm) has to happen inside one
namespace session. When not root, ``main()`` checks what a user namespace needs
(``userns.check``), then hands its command line, unchanged, to
``buildah unshare -- python -m buildahpy ARGS`` and returns that process's exit code. Inside,
buildahpy is root of the namespace and builds as it does for root.

``buildah unshare`` neither forwards SIGINT or SIGTERM to its child nor outlives them: it exits
and leaves the child running (buildah 1.28, checked). So the child runs in its own process
group, out of reach of the terminal's Ctrl-C, and this parent forwards SIGINT and SIGTERM to the
buildahpy inside, whose pid it learns through an inherited pipe. That pipe's write end closes
only when the inside process exits, so the parent also waits out its cleanup.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from buildahpy.errors import PreflightError
from buildahpy.host import preflight, userns
from buildahpy.host.tools import spawn
from buildahpy.log import error_line, get_logger

# Set for the child: the number of the pipe fd to report on. Its presence also means "already
# re-executed", so buildahpy never wraps itself twice.
MARKER = "_BUILDAHPY_USERNS_FD"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def needs_namespace(touches_nothing: bool, environ: dict[str, str] | None = None) -> bool:
    """Not root, not re-executed already, and about to build (not --list or --dry-run)."""
    environ = dict(os.environ) if environ is None else environ
    return os.geteuid() != 0 and MARKER not in environ and not touches_nothing


def unshare_argv(argv: Sequence[str]) -> list[str]:
    return ["buildah", "unshare", "--", sys.executable, "-m", "buildahpy", *argv]


def announce() -> None:
    """Inside the namespace: tell the waiting parent our pid. The fd stays open (and private to
    this process) until we exit; children never see the marker."""
    value = os.environ.pop(MARKER, None)
    if value is None or not value.isdigit():
        return
    fd = int(value)
    try:
        os.set_inheritable(fd, False)
        os.write(fd, f"pid {os.getpid()}\n".encode())
    except OSError:
        return  # started by hand with a stale marker: nobody is waiting


class _Forwarder:
    """Signal handler for the parent: pass the signal to buildahpy inside the namespace."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.group: int | None = None
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        try:
            if self.pid is not None:
                os.kill(self.pid, signum)
            elif self.group is not None:  # not started yet: stop the whole attempt
                os.killpg(self.group, signum)
        except ProcessLookupError:
            pass


def run_in_namespace(argv: Sequence[str]) -> int:
    """Re-execute ``buildahpy ARGV`` under ``buildah unshare``; its exit code is ours."""
    try:
        preflight.check_host(rootless=True)
        userns.check()
    except PreflightError as exc:
        error_line(str(exc))
        return exc.exit_code
    forward = _Forwarder()
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        read_fd, low_fd = os.pipe()
        # buildah unshare hands its own sync pipes to its child as fds 3 and 4, over whatever
        # was there; an fd far above them survives to buildahpy inside.
        write_fd = fcntl.fcntl(low_fd, fcntl.F_DUPFD_CLOEXEC, 100)
        os.close(low_fd)
        try:
            env = {**os.environ, MARKER: str(write_fd)}
            child = spawn(unshare_argv(argv), env=env, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        forward.group = child.pid
        get_logger().debug("user namespace", unshare_pid=child.pid)
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:  # EOF once buildahpy inside (and buildah unshare) are gone
                if line.startswith(b"pid ") and line[4:].strip().isdigit():
                    forward.pid = int(line[4:])
                    if forward.received is not None:
                        os.kill(forward.pid, forward.received)
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if forward.pid is None:
        if forward.received is not None:
            return 128 + forward.received
        error_line(
            f"buildah unshare could not start the build in a user namespace "
            f"(exit {code}); see its error above"
        )
        return PreflightError.exit_code
    return code if code >= 0 else 128 - code
