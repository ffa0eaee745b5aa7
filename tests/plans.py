"""Plans for the tests that check command lines and macros as data (no process is started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from buildahpy.api.recipe import Recipe
from buildahpy.plan.distro import HostRelease, Target
from buildahpy.plan.plan import Options, Plan, make_plan

DEBIAN = HostRelease(id="debian", version_id="12", id_like=())
FIXTURE_REPO = "[fixture]\nbaseurl=file:///srv/repo\ngpgcheck=0\n"


def sample_plan(flavour: str = "dnf4", *, workdir: str = "/w", **changes: Any) -> Plan:
    """A plan made directly, for checks that need no recipe or repository file."""
    return Plan(
        recipe_name="app",
        tag="localhost/app:latest",
        target=Target("fedora", "40"),
        weak_deps=False,
        docs=False,
        dnf_command="dnf",
        dnf_flavour=flavour,
        workdir=workdir,
        reposdirs=("/w/repos.d",),
        varsdirs=("/etc/dnf/vars",),
        repo_ids=("fixture",),
        digest="0" * 64,
        **changes,
    )


def planned(
    tmp_path: Path,
    flavour: str,
    *,
    repo_text: str = FIXTURE_REPO,
    releasever: str = "42",
    **recipe_kw: Any,
) -> Plan:
    """A plan made the way a build makes it: from a recipe and a .repo file, on a Debian host."""
    repo = tmp_path / "f.repo"
    repo.write_text(repo_text)
    recipe = Recipe(
        name="app",
        tag="localhost/app:latest",
        func=lambda image: None,
        file=tmp_path / "r.py",
        line=1,
        releasever=releasever,
        **recipe_kw,
    )
    return make_plan(
        recipe, Options(repo_files=(repo,)), host=DEBIAN, dnf_flavour=flavour, workdir="/w"
    )
