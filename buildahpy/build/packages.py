"""The build's package work: dnf transactions with the small alternatives, and pruning.

Host binaries: dnf (through dnf.py), rpm (through rpmdb.py).
"""

from __future__ import annotations

import stat
import tempfile
from collections.abc import Collection, Mapping, Sequence

import attrs

from buildahpy.errors import BuildError, CommandError
from buildahpy.host import dnf, rpmdb
from buildahpy.host.rootfs import RootFS
from buildahpy.host.tools import Completed
from buildahpy.log import get_logger, plural
from buildahpy.plan import minimize
from buildahpy.plan.packages import RELEASE_FILES, Package
from buildahpy.plan.plan import Plan


def installed_names(plan: Plan, root: str, env: Mapping[str, str], has_db: bool) -> list[str]:
    return sorted(rpmdb.query(root, plan.rpmdb_path, env)) if has_db else []


def install(
    plan: Plan,
    root: str,
    env: Mapping[str, str],
    packages: Sequence[str],
    named: Sequence[str],
    installed: Sequence[str],
    *,
    justdb: bool = False,
) -> tuple[list[str], Completed]:
    """Install ``packages``; return the large providers that were kept out (for the report)
    and dnf's report of the transaction (its output).
    ``justdb`` only records the transaction in the rpmdb (a resolution, as for a lock).

    With alternatives on, large providers no package of the recipe named are hidden from the
    solver, which then picks the small one. Should a package need a large provider by name, the
    transaction fails to resolve: it is then run again as asked, and that is logged.
    """
    argv, hidden = install_command(plan, root, packages, named, installed, justdb=justdb)
    env = dict(env)
    try:
        return hidden, dnf.run_transaction(plan, argv, env)
    except CommandError as error:
        # dnf4 and dnf5 both say this when a package needs a hidden provider by name
        if not hidden or "filtered out by exclude filtering" not in error.stderr + error.stdout:
            raise
        get_logger().warning(
            "small alternatives do not fit; installing as asked",
            hidden=",".join(hidden),
            cause=error.hint,
        )
    return [], dnf.run_transaction(plan, dnf.install_argv(plan, root, packages, justdb=justdb), env)


def retries_note(retries: int) -> str:
    """`` (2 download retries)``: what dnf's retries carried, so a flaky mirror is seen."""
    return f" ({plural(retries, 'download retry', 'download retries')})" if retries else ""


def install_command(
    plan: Plan,
    root: str,
    packages: Sequence[str],
    named: Sequence[str],
    installed: Sequence[str],
    *,
    justdb: bool = False,
) -> tuple[list[str], list[str]]:
    """The dnf command line of one install transaction, and the large providers it hides:
    what a build runs first, and what the dry run prints."""
    table = plan.alternatives
    hidden = minimize.excludes(table, named, installed) if plan.minimize.alternatives else []
    return dnf.install_argv(plan, root, packages, hidden, justdb=justdb), hidden


def resolution_bytes(
    plan: Plan, env: Mapping[str, str], named: Sequence[str], *, weak: bool, alternatives: bool
) -> int:
    """Installed size (from the rpm headers) of what dnf resolves for ``named`` with these
    settings, recorded with tsflags=justdb into a scratch rpmdb that is then thrown away."""
    variant = attrs.evolve(plan, weak_deps=weak)
    table = plan.alternatives
    hidden = minimize.excludes(table, named, []) if alternatives else []
    with tempfile.TemporaryDirectory(dir=plan.workdir, prefix="resolve-") as root:
        dnf.run_transaction(
            variant, dnf.install_argv(variant, root, named, hidden, justdb=True), env
        )
        return sum(p.size for p in rpmdb.query(root, plan.rpmdb_path, env).values())


def changed_files(rootfs: RootFS, package: Package) -> list[str]:
    """Files of ``package`` that differ from the package (size or mtime): a scriptlet or the
    recipe wrote into them, so they are image state and the package stays."""
    changed = []
    for path, size, _flags, state, _lang, mtime in package.files:
        if state != "normal" or mtime < 0:
            continue
        st = rootfs.lstat(path)
        if st is None or st.st_size != size or int(st.st_mtime) != mtime:
            changed.append(path)
    return changed


def owners(packages: Mapping[str, Package], paths: Collection[str]) -> list[str]:
    """Packages whose file lists hold one of ``paths``."""
    return sorted(name for name, p in packages.items() if any(f[0] in paths for f in p.files))


PathState = tuple[int, int, int, int, str] | None


def path_state(rootfs: RootFS, path: str) -> PathState:
    """What a path is, to tell whether it changed: type and mode, inode, and for a file its
    size and mtime, for a link its target (a directory's own mtime changes with its entries)."""
    try:
        st = rootfs.lstat(path)
    except OSError:
        return None
    if st is None:
        return None
    link = rootfs.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    if stat.S_ISDIR(st.st_mode):
        return st.st_mode, st.st_ino, 0, 0, ""
    return st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, link


def prune(
    plan: Plan,
    rootfs: RootFS,
    env: Mapping[str, str],
    packages: Mapping[str, Package],
    satisfied: Mapping[str, Sequence[str]],
    base: Sequence[str],
    touched: Collection[str] = (),
) -> list[Package]:
    """Erase packages only a scriptlet needed (and their rpmdb entries); return what went.
    ``packages``: the rpmdb as it is (rpmdb.query), ``satisfied``: rpmdb.satisfying's answer.

    Kept, with everything they need at runtime: the packages that satisfy the recipe's specs,
    the base's, those owning a path the recipe made (``touched``) and those whose files a
    scriptlet or the recipe changed. The recipe's paths are checked to be as they were."""
    root = str(rootfs.path)
    kept = [*minimize.resolve_roots(packages, satisfied), *(n for n in base if n in packages)]
    roots = [*kept, *owners(packages, touched), *owners(packages, RELEASE_FILES)]
    doomed = minimize.install_time_only(packages, roots, weak=plan.weak_deps)
    changed = [name for name in doomed if changed_files(rootfs, packages[name])]
    if changed:  # kept, so what they need at runtime stays too
        doomed = minimize.install_time_only(packages, [*roots, *changed], weak=plan.weak_deps)
    if doomed:
        before = {path: path_state(rootfs, path) for path in sorted(touched)}
        rpmdb.erase(root, plan.rpmdb_path, doomed, env)
        get_logger().debug("pruned install-time-only packages", packages=" ".join(doomed))
        altered = [path for path, state in before.items() if path_state(rootfs, path) != state]
        if altered:
            raise BuildError(
                f"pruning changed {altered[0]}, which the recipe made; build with prune=False"
            )
    return [packages[name] for name in doomed]


def require_satisfied(requested: Sequence[str], satisfied: Mapping[str, Sequence[str]]) -> None:
    """A build that says `built` has what the recipe installed: each spec (but those whose
    packages a later remove() named) is satisfied by a package of the finished image."""
    missing = [spec for spec in requested if not satisfied.get(spec)]
    if missing:
        raise BuildError(
            f"install({missing[0]!r}): no package in the finished image satisfies it any more "
            "(a later remove() took it, or what it needs); install it again after the remove"
        )
