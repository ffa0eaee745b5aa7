"""``--locked``: a build installs exactly its lock's package files, nothing a repository has now.

Before the working container exists the lock is checked (present, as new as the recipe's specs
and options, same base image, a section for the architecture it builds) and every locked file
of that section is fetched into the build's workdir (the shared cache's pool first) and checked
(sha256, and the signature where the repository had gpgcheck=1); the first install then gives
dnf those local files with no repository enabled. Host binaries: dnf (through dnf.py), rpmkeys
(through lockfetch.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.build.context import Context, Setup
from buildahpy.build.lock import host_arch, locked_inputs
from buildahpy.errors import BuildError, UsageError
from buildahpy.host import dnf, lockfetch
from buildahpy.log import get_logger, step
from buildahpy.plan import lockfile
from buildahpy.plan.lockfile import Lock, RecipeLock
from buildahpy.plan.repos import Repo, dnf_vars, enabled_repos


def require_lock(setup: Setup) -> tuple[Lock, RecipeLock]:
    recipe, plan = setup.recipe, setup.plan
    path = lockfile.lock_path(recipe.file)
    lock = lockfile.read(recipe.file)
    entry = lock.recipes.get(recipe.name) if lock else None
    if lock is None or entry is None:
        what = "no lock file" if lock is None else f"{path} has no entry for it"
        raise BuildError(
            f"--locked: recipe {recipe.name}: {what} ({path}); run buildahpy lock {recipe.file}"
        )
    if locked_inputs(recipe, plan) != entry.inputs:
        raise BuildError(
            f"--locked: the lock of recipe {recipe.name} ({path}) is older than its specs or "
            f"options; run buildahpy lock {recipe.file}"
        )
    base = setup.extras.base_image or "scratch"
    locked_base = entry.base_of(arch_of(setup))
    if locked_base != base:
        raise BuildError(
            f"--locked: recipe {recipe.name} was locked on base image {locked_base[:19]}, the base"
            f" is now {base[:19]}; run buildahpy lock {recipe.file}"
        )
    return lock, entry


def arch_of(setup: Setup) -> str:
    """The architecture this build installs, as its lock section is named."""
    return setup.plan.arch or host_arch()


def check_arches(recipe: Recipe, wanted: Sequence[str]) -> None:
    """A lock that lacks an architecture the run builds: a usage error before anything is
    created (``wanted`` () is the host's alone)."""
    chosen = list(wanted) or [host_arch()]
    missing = lockfile.missing_arch(lockfile.read(recipe.file), recipe.name, chosen)
    if missing is not None:
        raise UsageError(
            f"--locked: the lock of recipe {recipe.name} ({lockfile.lock_path(recipe.file)}) has"
            f" no packages for {missing}; run buildahpy lock --arch {','.join(chosen)}"
            f" {recipe.file}"
        )


def _repos(setup: Setup, lock: Lock) -> dict[str, Repo]:
    """Each locked repository as the .repo files define it now (for its TLS options), else
    from the lock alone."""
    variables = dnf_vars(setup.plan.target.releasever)
    # what dnf reads: the private repos.d prepare_workdir wrote, or the host's directories
    files = sorted(p for d in setup.plan.reposdirs for p in Path(d).glob("*.repo"))
    now = {r.id: r for r in enabled_repos(files, variables)}
    return {r.id: now.get(r.id, Repo(r.id, "baseurl", r.url)) for r in lock.repos}


def fetch_locked(setup: Setup) -> Setup:
    """The verified local files of the lock, in the build's workdir (gone when it ends)."""
    if not setup.options.locked:
        state = lock_state(setup)
        if state != "none":
            get_logger().info(
                f"lock is {state}, not enforced (--locked enforces it)",
                recipe=setup.recipe.name,
                lock=str(lockfile.lock_path(setup.recipe.file)),
            )
        return setup
    lock, entry = require_lock(setup)
    arch = arch_of(setup)
    packages = entry.arches.get(arch)
    if packages is None:
        raise BuildError(
            f"--locked: the lock of {setup.recipe.name} has no packages for {arch}; "
            f"run buildahpy lock --arch {arch} {setup.recipe.file}"
        )
    with step("fetch locked packages", count=len(packages)):
        dest = Path(setup.plan.workdir) / "locked"
        dest.mkdir()
        repos = _repos(setup, lock)
        pool = setup.extras.cache.pool if setup.extras.cache else None
        files = [lockfetch.fetch_one(p, repos[p.repo], dest, pool) for p in packages]
        signed = lockfetch.signed_repos(lock)
        to_check = [f for p, f in zip(packages, files, strict=True) if p.repo in signed]
        keys = lockfetch.fetch_keys(lock, repos, dest) if to_check else []
        lockfetch.check_signatures(to_check, keys, Path(setup.plan.workdir))
    return attrs.evolve(setup, locked=tuple(str(f) for f in files))


def install_locked(ctx: Context) -> None:
    """The first install of a locked build puts every locked file in; later ones find their
    specs satisfied (the lock resolved all of them together) and run no transaction."""
    if ctx.locked_installed or not ctx.setup.locked:
        return
    argv = dnf.install_files_argv(ctx.plan, str(ctx.rootfs.path), ctx.setup.locked)
    dnf.run_transaction(ctx.plan, argv, ctx.env)
    ctx.locked_installed = True
    get_logger().info("installed the locked packages", count=len(ctx.setup.locked))


def lock_state(setup: Setup) -> str:
    """'fresh', 'stale' or 'none': what a build without --locked says of the recipe's lock."""
    lock = lockfile.read(setup.recipe.file)
    entry = lock.recipes.get(setup.recipe.name) if lock else None
    if entry is None:
        return "none"
    return "fresh" if locked_inputs(setup.recipe, setup.plan) == entry.inputs else "stale"
