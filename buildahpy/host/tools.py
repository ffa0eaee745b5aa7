"""The one module that starts host processes (buildah, dnf, rpm, podman and the like).

Every call takes an argument list, never a shell string, runs with an explicit environment, logs the
exact command at debug level, keeps stderr for the error, and kills the child if the build is
interrupted while it runs.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence

import attrs
import sh

from buildahpy import interrupts
from buildahpy.errors import CommandError, PreflightError
from buildahpy.log import context_logger, get_logger

# Variables a child may inherit from our environment: what buildah, podman and dnf need to find
# their storage, user namespace and proxies. Everything else is dropped so the caller's shell
# cannot change an image (LANG, RPM_* and friends).
_PASSTHROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "REGISTRIES_CONFIG_PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
_PASSTHROUGH_PREFIXES = ("CONTAINERS_", "_CONTAINERS_", "BUILDAH_", "STORAGE_")

# How long a child gets to exit after SIGTERM before it is killed.
_TERM_GRACE_SECONDS = 20.0


@attrs.frozen
class Completed:
    argv: tuple[str, ...]
    stdout: str
    stderr: str


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment tools run with: a whitelist of ours, C.UTF-8 messages, then ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _PASSTHROUGH or key.startswith(_PASSTHROUGH_PREFIXES)
    }
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def which(name: str, env: Mapping[str, str] | None = None) -> str | None:
    return shutil.which(name, path=(env or base_env())["PATH"])


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    hint: str = "",
    quiet: bool = False,
    shield: bool = False,
    stream: bool = False,
) -> Completed:
    """Run ``argv`` to completion; raise CommandError (argv, exit code, stderr tail) on failure.

    stdout is captured and returned; stderr lines are logged at debug level as they arrive (so
    ``-v`` shows dnf's progress) and kept for the error message; with ``stream`` stdout's lines
    too (dnf's own report, for ``-v``), as they come. ``shield``: the child runs in
    its own process group (out of reach of the terminal's Ctrl-C) and an interrupt waits for it
    to end instead of stopping it, for a step that must not be cut half-way.
    """
    argv = [str(arg) for arg in argv]
    env = dict(env) if env is not None else base_env()
    log = context_logger()
    if not quiet:
        log.debug("run", cmd=shlex.join(argv), _text=f"$ {shlex.join(argv)}")
    path = which(argv[0], env) if "/" not in argv[0] else argv[0]
    if path is None:
        raise PreflightError(f"'{argv[0]}' is not installed or not on PATH; install it first")
    err_lines: list[str] = []
    out_lines: list[str] = []
    tool = os.path.basename(argv[0])

    def on_err(line: str) -> None:
        err_lines.append(line)
        text = line.rstrip("\n")
        log.debug("output", tool=tool, stream="stderr", line=text, _text=f"{tool}! {text}")

    def on_out(line: str) -> None:
        out_lines.append(line)
        text = line.rstrip("\n")
        log.debug("output", tool=tool, stream="stdout", line=text, _text=f"{tool}| {text}")

    command = sh.Command(path)
    signals_before = interrupts.count()
    process = command(
        *argv[1:],
        _env=env,
        _tty_out=False,
        _bg=True,
        _bg_exc=False,
        _err=on_err,
        _out=on_out if stream else None,
        _in=stdin,
        _decode_errors="replace",
        _return_cmd=True,
        _new_group=shield,
    )
    try:
        interrupts.raise_if_swallowed(signals_before)  # one that came while the child started
        process.wait()
        interrupts.raise_if_swallowed(signals_before)
    except sh.ErrorReturnCode as error:
        raise CommandError(
            argv, error.exit_code, "".join(err_lines), hint=hint, stdout=_stdout(process, out_lines)
        ) from None
    except BaseException:
        if shield:
            _finish(process)
        else:
            _stop(process)
        raise
    return Completed(tuple(argv), _stdout(process, out_lines), "".join(err_lines))


def _stdout(process: sh.RunningCommand, streamed: list[str]) -> str:
    return "".join(streamed) if streamed else str(process.stdout, "utf-8", "replace")


def _finish(process: sh.RunningCommand) -> None:
    with contextlib.suppress(sh.ErrorReturnCode, sh.SignalException):
        process.wait()


def _stop(process: sh.RunningCommand) -> None:
    """Terminate an interrupted child and wait for it, so it cannot hold a mount or a lock."""
    try:
        if process.process.is_alive()[0]:
            process.signal(signal.SIGTERM)
            process.wait(timeout=_TERM_GRACE_SECONDS)
    except sh.TimeoutException:
        process.kill()
    except (sh.ErrorReturnCode, sh.SignalException, OSError):
        pass
    except BaseException:  # a second Ctrl-C while we wait: kill at once, then let it propagate
        process.kill()
        raise


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], pass_fds: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """Start ``argv`` on our own stdin, stdout and stderr, in a new process group, and return
    at once. For the one child that outlives a step: buildahpy itself under ``buildah unshare``
    (buildahpy.privilege.rootless), which forwards signals to it by hand instead of sharing the
    terminal's. ``pass_fds`` stay open in the child."""
    argv = [str(arg) for arg in argv]
    get_logger().debug("spawn", cmd=shlex.join(argv))
    path = which(argv[0], env) if "/" not in argv[0] else argv[0]
    if path is None:
        raise PreflightError(f"'{argv[0]}' is not installed or not on PATH; install it first")
    return subprocess.Popen(
        [path, *argv[1:]], env=dict(env), pass_fds=tuple(pass_fds), process_group=0
    )
