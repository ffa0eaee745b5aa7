"""The private host directory dnf and rpm run with: dnf.conf, the chosen .repo files, a HOME
whose .rpmmacros is buildahpy's (the user's own macros never apply), and that environment.

Writes only below the directory it is given (a fresh temporary one); starts no process.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

from buildahpy.host import userns
from buildahpy.host.tools import base_env
from buildahpy.log import get_logger
from buildahpy.plan.plan import Plan, dnf_conf, rpm_macros


def make(stack: ExitStack) -> Path:
    """A fresh directory, removed when ``stack`` unwinds."""
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="buildahpy-")))


def fill(plan: Plan, sysusers_helper: str) -> dict[str, str]:
    """Write what ``plan`` names in its workdir; return the environment to run dnf and rpm in."""
    workdir = Path(plan.workdir)
    conf = dnf_conf(plan)
    (workdir / "dnf.conf").write_text(conf)
    get_logger().debug("dnf.conf", text=conf, _text=f"dnf.conf: {'; '.join(conf.splitlines())}")
    if plan.private_repos:
        (workdir / "repos.d").mkdir()
        for index, source in enumerate(plan.private_repos):
            name = Path(source.name).name
            (workdir / "repos.d" / f"{index:02d}-{name}").write_text(source.text)
    home = Path(plan.home)
    home.mkdir()
    macros = rpm_macros(plan, rootless=userns.in_user_namespace(), sysusers_helper=sysusers_helper)
    (home / ".rpmmacros").write_text(macros)
    env = base_env({"HOME": plan.home})
    env.pop("XDG_CONFIG_HOME", None)  # rpm >= 4.19 also reads $XDG_CONFIG_HOME/rpm/macros
    return env
