"""The host's dnf (dnf4 or dnf5) pointed at the image rootfs with ``--installroot``.

Host binaries: dnf, dnf5, dnf4 or dnf-3, whichever is the flavour asked for (the installed
file, or ``--version``, tells dnf4 from dnf5). Every
difference between the two lives in one flavour object (``dnf4.Dnf4``, ``dnf5.Dnf5``, on
``base.Dnf``): its options, how it is pointed at a cache, what it leaves in an installroot, how
its failures read. The functions here pick the flavour the plan names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from buildahpy.errors import PreflightError
from buildahpy.host.dnf.base import Dnf
from buildahpy.host.dnf.dnf4 import Dnf4
from buildahpy.host.dnf.dnf5 import Dnf5
from buildahpy.host.tools import Completed, run, which

if TYPE_CHECKING:
    from buildahpy.plan.plan import Plan

DNF4 = Dnf4.name
DNF5 = Dnf5.name
FLAVOURS: dict[str, Dnf] = {DNF4: Dnf4(), DNF5: Dnf5()}


def of(plan: Plan) -> Dnf:
    """The flavour object of the dnf a plan runs."""
    return FLAVOURS[plan.dnf_flavour]


def detect_flavour(version_output: str) -> str:
    """dnf4 prints its version ('4.14.0') first; dnf5 says 'dnf5 version 5.x' or starts with 5."""
    first = version_output.strip().splitlines()[0] if version_output.strip() else ""
    if "dnf5" in version_output or re.match(r"^5\.", first):
        return DNF5
    return DNF4


def flavour_from_path(path: str) -> str | None:
    """Tell the flavour from the installed file alone, without starting Python's dnf (~0.3 s).

    Fedora 41+ links /usr/bin/dnf to dnf5; dnf4 is a Python script (or a link to dnf-3).
    """
    real = os.path.realpath(path)
    name = os.path.basename(real)
    if name.startswith("dnf5"):
        return DNF5
    if name in ("dnf-3", "dnf4"):
        return DNF4
    try:
        with open(real, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return None
    return DNF4 if first.startswith(b"#!") and b"python" in first else None


def host_flavour(dnf: str = "dnf") -> str:
    path = which(dnf)
    known = flavour_from_path(path) if path else None
    if known:
        return known
    return detect_flavour(run([dnf, "--version"], hint="cannot run the host's dnf").stdout)


def candidates(flavour: str) -> tuple[str, ...]:
    """The commands that may be the host's dnf of ``flavour`` (``auto``: any), best first."""
    if flavour in FLAVOURS:
        return FLAVOURS[flavour].commands
    return tuple(dict.fromkeys(("dnf", *(c for f in FLAVOURS.values() for c in f.commands))))


def find_dnf(flavour: str = "auto") -> tuple[str, str]:
    """The host's dnf for ``flavour`` (``auto``, ``dnf4``, ``dnf5``): (command, flavour)."""
    looked = []
    for name in candidates(flavour):
        if not which(name):
            continue
        found = host_flavour(name)
        if flavour in ("auto", found):
            return name, found
        looked.append(f"'{name}' is {found}")
    wanted = "dnf" if flavour == "auto" else flavour
    seen = f" ({', '.join(looked)})" if looked else ""
    package = FLAVOURS[flavour].package if flavour in FLAVOURS else "dnf5 (or dnf)"
    raise PreflightError(
        f"no {wanted} on this host: none of {', '.join(candidates(flavour))} is{seen};"
        f" install it (Debian: apt-get install {package}; Fedora: dnf install {package})"
    )


def install_argv(
    plan: Plan,
    root: str,
    packages: Sequence[str],
    exclude: Sequence[str] = (),
    *,
    justdb: bool = False,
) -> list[str]:
    return of(plan).install_argv(plan, root, packages, exclude, justdb=justdb)


def install_files_argv(plan: Plan, root: str, files: Sequence[str]) -> list[str]:
    return of(plan).install_files_argv(plan, root, files)


def remove_argv(plan: Plan, root: str, packages: Sequence[str]) -> list[str]:
    return of(plan).remove_argv(plan, root, packages)


def makecache_argv(plan: Plan, root: str) -> list[str]:
    return of(plan).makecache_argv(plan, root)


def run_transaction(plan: Plan, argv: Sequence[str], env: Mapping[str, str]) -> Completed:
    """Run a dnf command line; a failure's hint is the cause, read as this flavour words it."""
    return of(plan).run(argv, env)
