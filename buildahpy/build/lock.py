"""Resolving one recipe's packages without building it, for its lock (plan/lockfile.py).

The specs come from a dry run of the recipe (``Image.specs``); dnf resolves them all in one
transaction with tsflags=justdb into a scratch installroot (an rpmdb, no files, no
scriptlets), with the excludes a build would use and, for a based recipe, a copy of its base's
rpmdb, so only what the base lacks is locked. Each resolved NEVRA is then found in the
repositories' primary.xml (location, size, sha256). Host binaries: dnf, rpm (through dnf.py,
rpmdb.py), buildah (a based recipe's base is mounted to copy its rpmdb).
"""

from __future__ import annotations

import platform
import secrets
import shutil
import stat
from contextlib import ExitStack
from pathlib import Path

from buildahpy.api.image import DryEngine, Image
from buildahpy.api.recipe import Recipe, failure_in
from buildahpy.build import packages as packages_mod
from buildahpy.build import sysusers
from buildahpy.errors import BuildError, RecipeError
from buildahpy.host import buildah, repodata
from buildahpy.host import workdir as workdir_mod
from buildahpy.host.rootfs import RootFS
from buildahpy.host.rpmdb import query
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.lockfile import LockedPackage, RecipeLock, inputs_digest
from buildahpy.plan.packages import RELEASE_FILES, Package
from buildahpy.plan.plan import Options, Plan, make_plan
from buildahpy.plan.repos import Repo


class _Watch(DryEngine):
    """A dry run that notes the calls whose effect on the package set only a build knows."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, argv: list[str]) -> str:
        self.ran.append(" ".join(argv))
        return ""


def recipe_specs(recipe: Recipe) -> list[str]:
    """The specs the recipe installs; a recipe that runs commands in its image is refused (a
    command can install, or decide what is installed, and a dry run cannot tell)."""
    watch = _Watch()
    image = Image(watch, recipe.file.parent)
    try:
        recipe.func(image)
    except Exception as exc:
        raise RecipeError(f"cannot lock {recipe.name}: {failure_in(exc, recipe.file)}") from None
    if watch.ran:
        raise RecipeError(
            f"cannot lock {recipe.name}: it runs image.run({watch.ran[0]!r}), and what a command "
            "installs is only known by building"
        )
    return list(dict.fromkeys(image.specs))


def host_arch() -> str:
    return platform.machine()


def locked_inputs(recipe: Recipe, plan: Plan) -> str:
    """The digest a lock records for this recipe, recomputed by ``--locked`` to tell staleness."""
    specs = recipe_specs(recipe)
    return inputs_digest(plan, specs, recipe.base or "scratch", recipe.release_package)


def copy_base_rpmdb(plan: Plan, base_id: str, scratch: Path, stack: ExitStack) -> None:
    """The base's rpmdb in the scratch root, so dnf resolves only what the base lacks."""
    container = f"buildahpy-lock-{plan.recipe_name.lower()}-{secrets.token_hex(3)}"
    buildah.create(container, base_id)
    stack.callback(buildah.remove, container)
    mountpoint = buildah.mount(container)
    stack.callback(buildah.umount, container)
    root = RootFS(Path(mountpoint))
    stack.callback(root.close)
    inside = root.real_path(plan.rpmdb_path) if root.exists(plan.rpmdb_path) else ""
    st = root.lstat(inside) if inside else None
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):  # a link left as the last part would be followed on the host
        raise BuildError(f"base image {base_id[:19]}: {inside} is not a directory")
    source = Path(mountpoint) / inside.lstrip("/")
    shutil.copytree(source, scratch / plan.rpmdb_path.lstrip("/"), symlinks=True)


def resolve(
    recipe: Recipe, options: Options, host: HostRelease, flavour: str, base_id: str | None
) -> tuple[Plan, dict[str, Package], list[str]]:
    """dnf's resolution of the recipe's specs: the packages it adds to the base (or scratch)."""
    specs = recipe_specs(recipe)
    with ExitStack() as stack:
        workdir = workdir_mod.make(stack)
        plan = make_plan(recipe, options, host=host, dnf_flavour=flavour, workdir=str(workdir))
        env = workdir_mod.fill(plan, sysusers.helper_command())
        root = workdir / "root"
        root.mkdir()
        if base_id:
            copy_base_rpmdb(plan, base_id, root, stack)
        has_db = (root / plan.rpmdb_path.lstrip("/")).exists()
        base = packages_mod.installed_names(plan, str(root), env, has_db)
        if specs:
            packages_mod.install(plan, str(root), env, specs, specs, base, justdb=True)
        found = query(str(root), plan.rpmdb_path, env) if specs or has_db else {}
        release = plan.target.release_package
        if recipe.release_package and not any(
            f[0] in RELEASE_FILES for p in found.values() for f in p.files
        ):
            packages_mod.install(plan, str(root), env, [release], specs, base, justdb=True)
            found = query(str(root), plan.rpmdb_path, env)
        # gpg-pubkey: the keys dnf imported to check signatures, rpmdb entries of no repository
        added = {n: p for n, p in found.items() if n not in base and n != "gpg-pubkey"}
        return plan, added, specs


def locate(
    added: dict[str, Package],
    repos: list[Repo],
    metadata: dict[str, dict[repodata.Nevra, repodata.Entry]],
) -> tuple[LockedPackage, ...]:
    """Each resolved package as the repository dnf would take it from publishes it: of those
    that have its NEVRA, the one of lowest priority= value, the first in .repo order on a tie."""
    repos = sorted(repos, key=_priority)
    locked = []
    for name, package in sorted(added.items()):
        h = package.header
        key = (name, h.epoch, h.version, h.release, h.arch)
        repo = next((r for r in repos if key in metadata[r.id]), None)
        if repo is None:
            raise BuildError(
                f"dnf resolved {package.nevra}, but no repository's primary.xml lists it"
            )
        entry = metadata[repo.id][key]
        locked.append(
            LockedPackage(
                name,
                h.arch,
                h.epoch,
                h.version,
                h.release,
                repo.id,
                entry.url,
                entry.size,
                entry.sha256,
            )
        )
    return tuple(locked)


def _priority(repo: Repo) -> int:
    try:
        return int(dict(repo.section).get("priority", "99"))
    except ValueError:
        return 99


def recipe_lock(
    recipe: Recipe,
    options: Options,
    host: HostRelease,
    flavour: str,
    base_id: str | None,
    repos: list[Repo],
    metadata: dict[str, dict[repodata.Nevra, repodata.Entry]],
) -> RecipeLock:
    """The packages ``options.arch`` (dnf --forcearch; "" the host's) adds to the base."""
    plan, added, specs = resolve(recipe, options, host, flavour, base_id)
    digest = inputs_digest(plan, specs, recipe.base or "scratch", recipe.release_package)
    arch = options.arch or host_arch()
    return RecipeLock(digest, base_id or "scratch", {arch: locate(added, repos, metadata)})
