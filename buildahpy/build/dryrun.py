"""What the command line prints on stdout for ``--dry-run``: each recipe's plan.

The commands are made by the very functions a build calls (packages.install_command,
dnf.remove_argv, buildah.*_argv, plan.dnf_conf), from the same plan, with placeholders for what
only exists during the build (the mountpoint, the private workdir and cachedir). Installs are
batched as the live engine batches them (one dnf transaction per run of installs, ended by any
other call), so the dry run lists the transactions a build runs. What it cannot know: what a
base image already has (it can keep a large provider in), and whether the packages bring
/etc/os-release (else the build adds the release package: printed as a conditional step).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TextIO

from buildahpy.api.image import DryEngine, Image
from buildahpy.api.recipe import CHECKS, Recipe, failure_in
from buildahpy.api.validate import Owner
from buildahpy.build.packages import install_command
from buildahpy.errors import PreflightError, RecipeError
from buildahpy.host import buildah, dnf
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options, Plan, dnf_conf, make_plan, rpm_macros
from buildahpy.plan.repos import URL_KINDS, read_sections

ROOT, WORKDIR, CACHEDIR = "<mountpoint>", "<workdir>", "<cachedir>"


class PlanEngine(DryEngine):
    """Records the dnf transactions a build of the recipe runs, in order, as their argv."""

    def __init__(self, plan: Plan, *, release_package: bool = True) -> None:
        self.plan, self.release_package = plan, release_package
        self.specs: list[str] = []  # what the recipe asked to install so far (the build's named)
        self.batched: list[str] = []
        self.transactions: list[list[str]] = []

    def flush(self) -> None:
        if self.batched:
            packages, self.batched = self.batched, []
            argv, _hidden = install_command(self.plan, ROOT, packages, self.specs, [])
            self.transactions.append(argv)

    def install(self, packages: list[str]) -> None:
        self.specs += packages
        self.batched += packages

    def remove(self, packages: list[str]) -> None:
        self.flush()
        self.transactions.append(dnf.remove_argv(self.plan, ROOT, packages))

    def write(self, path: str, data: bytes, mode: int, owner: Owner | None = None) -> None:
        self.flush()

    def copy(self, source: Path, dest: str, mode: int | None, owner: Owner | None = None) -> None:
        self.flush()

    def mkdir(self, path: str, mode: int, owner: Owner | None = None) -> None:
        self.flush()

    def symlink(self, target: str, link: str) -> None:
        self.flush()

    def add_group(self, name: str, gid: int) -> None:
        self.flush()

    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None:
        self.flush()

    def run(self, argv: list[str]) -> str:
        self.flush()
        return ""

    def query(self, argv: list[str]) -> str:
        self.flush()
        return ""

    def rootfs(self) -> Path:
        self.flush()
        return Path(ROOT)

    def release_argv(self) -> list[str]:
        """The install a build adds when the image has no /etc/os-release."""
        package = self.plan.target.release_package
        return install_command(self.plan, ROOT, [package], self.specs, [])[0]


def repo_lines(plan: Plan) -> list[str]:
    """Each private repository (a preset's, or --repo-file's) with its URL and keys."""
    lines = []
    for repo_file in plan.private_repos:
        for name, section in read_sections(repo_file).items():
            url = next((f"{k}={section[k]}" for k in URL_KINDS if section.get(k)), "no url")
            lines.append(f"{name}: {url} gpgcheck={section.get('gpgcheck', '1')}")
            lines += [f"  gpgkey {key}" for key in section.get("gpgkey", "").split()]
    return lines


def print_plan(plan: Plan, image: Image, engine: PlanEngine, out: TextIO) -> None:
    """Everything a build would do, with placeholders for what only exists during the build."""
    name = f"{plan.container_prefix}-<random>"
    lines = [
        f"recipe {plan.recipe_name} -> {plan.tag}",
        f"  distro: {plan.target.family} {plan.target.releasever}",
        f"  dnf: {plan.dnf_flavour} (weak deps {'on' if plan.weak_deps else 'off'}, "
        f"docs {'on' if plan.docs else 'off'})",
        f"  repositories: {', '.join(plan.repo_ids)} ({plan.repos_source}: "
        f"{', '.join(plan.reposdirs)})",
        *(f"    {line}" for line in repo_lines(plan)),
        f"  rpmdb: {plan.rpmdb_path}",
        f"  rpm macros: {'; '.join(rpm_macros(plan).splitlines())}",
        f"  dnf.conf: {'; '.join(dnf_conf(plan).splitlines())}",
        f"  packages: {' '.join(image.specs) or '(none)'}",
    ]
    if image.removed:
        lines.append(f"  removed: {' '.join(image.removed)}")
    skipped = dict(plan.skip_checks)
    checks = [f"{name} (skipped: {skipped[name]})" if name in skipped else name for name in CHECKS]
    lines.append(f"  checks before commit: {', '.join(checks)}")
    lines.append("  steps:")
    lines += [f"    {entry}" for entry in image.steps] or ["    (none)"]
    lines.append("  commands:")
    commands = [buildah.from_argv(name, plan.base_image), ["buildah", "mount", name]]
    commands += engine.transactions
    config = image.config_value
    after = [
        buildah.config_argv(name, config),
        buildah.commit_argv(
            name, "<iidfile>", f"localhost/{name}:pending", docker=config.needs_docker_format
        ),
        ["buildah", "tag", "<image-id>", plan.tag],
        ["buildah", "rmi", f"localhost/{name}:pending"],
        ["buildah", "umount", name],
        ["buildah", "rm", name],
    ]
    lines += [f"    {shlex.join(argv)}" for argv in commands]
    if engine.release_package:
        lines.append(f"    {shlex.join(engine.release_argv())}  # if no /etc/os-release")
    lines += [f"    {shlex.join(argv)}" for argv in after]
    out.write("\n".join(lines) + "\n")


def dry_dnf(asked: str) -> tuple[str, str]:
    """The dnf a build here would run (found as a build finds it; nothing is started unless
    the installed file cannot tell), else the flavour asked (dnf4 for auto) by its usual name."""
    try:
        return dnf.find_dnf(asked)
    except PreflightError:
        flavour = dnf.DNF4 if asked == "auto" else asked
        return dnf.FLAVOURS[flavour].commands[0], flavour


def dry_run(
    entry: Recipe, options: Options, host: HostRelease, flavour: str, *, cache: bool = True
) -> None:
    """The plan, with the build's placeholders: a shared-cache build's dnf has a cachedir."""
    plan = make_plan(
        entry,
        options,
        host=host,
        dnf_flavour=flavour,
        workdir=WORKDIR,
        cachedir=CACHEDIR if cache else "",
    )
    engine = PlanEngine(plan, release_package=entry.release_package)
    image = Image(engine, entry.file.parent)
    try:
        entry.func(image)
        engine.flush()
    except Exception as exc:
        raise RecipeError(failure_in(exc, entry.file)) from exc
    print_plan(plan, image, engine, sys.stdout)
