"""Whether this host runs another architecture's programs: qemu-user through binfmt_misc.

Reads /proc/sys/fs/binfmt_misc/qemu-<arch>; starts nothing. The handler must be enabled and
carry the F (fix-binary) flag: the kernel then opens the interpreter when it is registered, so
it runs inside an image's rootfs (rpm's scriptlets, ``image.run``) where no qemu is installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from buildahpy.errors import PreflightError
from buildahpy.plan.arches import binfmt_entry, foreign

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
PACKAGES = (
    "Debian: apt-get install qemu-user-static binfmt-support; Fedora: dnf install qemu-user-static"
)


def handler_problem(arch: str, text: str | None) -> str:
    """What is wrong with the handler whose file reads ``text`` (None: no such file); ""."""
    if text is None:
        return f"no binfmt_misc handler {binfmt_entry(arch)} is registered"
    lines = text.splitlines()
    if "enabled" not in lines:
        return f"the binfmt_misc handler {binfmt_entry(arch)} is disabled"
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if "F" not in flags:
        return (
            f"the binfmt_misc handler {binfmt_entry(arch)} lacks the F (fix-binary) flag,"
            " so its interpreter cannot run inside the image"
        )
    return ""


def read_handler(arch: str, directory: Path = BINFMT_DIR) -> str | None:
    try:
        return (directory / binfmt_entry(arch)).read_text()
    except OSError:
        return None


def check_foreign(arches: Iterable[str], directory: Path = BINFMT_DIR) -> None:
    """Every foreign architecture asked for runs here, else one line saying what to install."""
    problems = [
        problem
        for arch in foreign(arches)
        if (problem := handler_problem(arch, read_handler(arch, directory)))
    ]
    if not problems:
        return
    mounted = (directory / "status").exists()
    mount = "" if mounted else f" (and mount it: mount -t binfmt_misc binfmt_misc {directory})"
    raise PreflightError(
        f"cannot build for {', '.join(foreign(arches))}: {'; '.join(problems)};"
        f" install qemu-user with binfmt_misc handlers ({PACKAGES}){mount}"
    )
