"""The live engine behind a recipe's ``image`` object, and the dnf transactions it runs.

Host binaries: dnf (through dnf.py and packages.py), rpm (through rpmdb.py), buildah
(``image.run``).
"""

from __future__ import annotations

import os
import stat
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from buildahpy.api.image import DryEngine
from buildahpy.api.recipe import note_site
from buildahpy.api.validate import Owner
from buildahpy.build import accounts, locked, nospace, resync, scrub, suggest, sysusers
from buildahpy.build import packages as packages_mod
from buildahpy.build.context import Context
from buildahpy.errors import BuildError, CommandError
from buildahpy.host import buildah, dnf, rpmdb
from buildahpy.host.rootfs import Ids, RootFS
from buildahpy.log import get_logger, plural, step
from buildahpy.plan.plan import Plan


class LiveEngine(DryEngine):
    """Carries out the recipe's calls. Installs are batched until the rootfs is next touched."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.site = traceback.StackSummary()  # where the recipe asked for the pending batch

    def flush(self) -> None:
        if self.ctx.batched:
            packages, self.ctx.batched = self.ctx.batched, []
            try:
                install_packages(self.ctx, packages)
                add_declared_users(self.ctx)
            except Exception as exc:
                note_site(exc, self.site)  # the recipe's install line, not where it flushed
                raise

    def install(self, packages: list[str]) -> None:
        if not self.ctx.batched:
            self.site = traceback.StackSummary.extract(
                traceback.walk_stack(None), lookup_lines=False
            )
            self.site.reverse()
        self.ctx.batched += packages

    def remove(self, packages: list[str]) -> None:
        self.flush()
        remove_packages(self.ctx, packages)

    def _edit(
        self, what: str, path: str, action: Callable[[], None], made: Sequence[str] = ()
    ) -> None:
        self.flush()
        try:
            action()
            for image_path in made:
                self._touch(image_path)
        except OSError as exc:
            cache = self.ctx.extras.cache
            where = nospace.places(cache.root if cache else None, self.ctx.rootfs.path)
            raise nospace.explained_write(f"{what} {path} in the image", exc, where) from None

    def _touch(self, path: str) -> None:
        """Remember a path the recipe made, and the links on the way to it, as the recipe
        spelled it and as rpm's file lists do, so that pruning never undoes it."""
        root = self.ctx.rootfs
        parts = PurePosixPath(path).parts[1:]
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            st = root.lstat(prefix)
            if depth == len(parts) or (st is not None and stat.S_ISLNK(st.st_mode)):
                self.ctx.touched.update({prefix, root.real_path(prefix)})

    def _ids(self, what: str, path: str, owner: Owner | None) -> Ids | None:
        """``owner=`` as ids, read from the image's account files now (after the packages the
        recipe installed so far, which may have made the user)."""
        self.flush()
        if owner is None:
            return None
        try:
            return accounts.resolve_owner(self.ctx.rootfs, owner)
        except BuildError as exc:
            raise BuildError(
                f"{what} {path}: {exc} (install the package that makes it, or call add_user, "
                "before this call)"
            ) from None

    def write(self, path: str, data: bytes, mode: int, owner: Owner | None = None) -> None:
        ids = self._ids("cannot write", path, owner)
        self._edit(
            "cannot write",
            path,
            lambda: self.ctx.rootfs.write_bytes(path, data, mode, owner=ids),
            [path],
        )

    def copy(self, source: Path, dest: str, mode: int | None, owner: Owner | None = None) -> None:
        ids = self._ids("cannot copy to", dest, owner)
        target = self.ctx.rootfs.copy_target(source, dest)
        self._edit(
            "cannot copy to",
            dest,
            lambda: self.ctx.rootfs.copy_in(source, dest, mode, ids),
            copied_paths(source, target),
        )

    def mkdir(self, path: str, mode: int, owner: Owner | None = None) -> None:
        ids = self._ids("cannot create directory", path, owner)
        self._edit(
            "cannot create directory",
            path,
            lambda: self.ctx.rootfs.mkdir(path, mode, ids),
            [path],
        )

    def symlink(self, target: str, link: str) -> None:
        self._edit(
            "cannot create symlink",
            link,
            lambda: self.ctx.rootfs.symlink(target, link, parents=True),
            [link],
        )

    def add_group(self, name: str, gid: int) -> None:
        self._edit("cannot add group", name, lambda: accounts.add_group(self.ctx.rootfs, name, gid))

    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None:
        self._edit(
            "cannot add user",
            name,
            lambda: accounts.add_user(self.ctx.rootfs, name, uid, gid, home, shell),
        )

    def run(self, argv: list[str]) -> str:
        self.flush()
        return buildah.run_in(self.ctx.container, argv)

    def query(self, argv: list[str]) -> str:
        self.flush()
        return buildah.query_in(self.ctx.container, argv)

    def rootfs(self) -> Path:
        self.flush()
        return self.ctx.rootfs.path


def copied_paths(source: Path, dest: str) -> list[str]:
    """The image paths a copy of ``source`` to ``dest`` makes (host links are not followed)."""
    paths = [dest]
    if source.is_dir() and not source.is_symlink():
        for dirpath, dirs, files in os.walk(source):
            below = PurePosixPath(dest, Path(dirpath).relative_to(source).as_posix())
            paths += [str(below / name) for name in sorted([*dirs, *files])]
    return paths


def check_host_paths(plan: Plan, rootfs: RootFS, *, dnf: bool = True) -> None:
    """Our own edits are confined (rootfs.py); the host's dnf and rpm are not: they open their
    caches, logs and rpmdb under the mountpoint as host paths and follow links on the host. A
    link planted by a package's scriptlet or a base image would lead them out: stop first."""
    allowed = [plan.cachedir] if plan.cachedir else []  # cache.link_into's own link
    tool = "dnf" if dnf else "rpm"
    for path in scrub.host_tool_paths(plan.rpmdb_path, dnf=dnf):
        escape = rootfs.host_escape(path, allowed)
        if escape:
            raise BuildError(
                f"the image's {escape[0]} leads out of the image (to {escape[1]} on the host); "
                f"the host's {tool} would write through it, so it is not run"
            )


def install_packages(ctx: Context, packages: list[str]) -> None:
    check_host_paths(ctx.plan, ctx.rootfs)
    if ctx.setup.locked:
        locked.install_locked(ctx)
        ctx.requested += [spec for spec in dict.fromkeys(packages) if spec not in ctx.requested]
        return
    with step("dnf install", show=True, packages=" ".join(packages)) as note:
        root = str(ctx.rootfs.path)
        has_db = ctx.rootfs.exists(ctx.plan.rpmdb_path)
        installed = packages_mod.installed_names(ctx.plan, root, ctx.env, has_db)
        named = ctx.image.specs
        try:
            hidden, report = packages_mod.install(
                ctx.plan, root, ctx.env, packages, named, installed
            )
        except CommandError as error:
            error = resync.changed_repository(error, ctx.plan, ctx.rootfs)
            raise suggest.explained(error, ctx.plan, ctx.rootfs) from None
        ctx.hidden += [name for name in hidden if name not in ctx.hidden]
        added = dnf.of(ctx.plan).added_count(report.stdout)
        note.detail = transaction_note(ctx, installed, packages, added=added)
        note.detail += packages_mod.retries_note(dnf.of(ctx.plan).download_retries(report))
    ctx.requested += [spec for spec in dict.fromkeys(packages) if spec not in ctx.requested]


def transaction_note(
    ctx: Context,
    before: Sequence[str],
    asked: Sequence[str],
    verb: str = "",
    added: int | None = None,
) -> str:
    """``15 packages (glibc-minimal-langpack coreutils-single nginx)``: how many packages the
    transaction added (or, for a remove, took), and what the recipe asked for. ``added``: the
    count dnf's own summary gave, when it gave one (then the rpmdb is not read again)."""
    if added is not None and not verb:
        changed = added
    else:
        after = rpmdb.names(str(ctx.rootfs.path), ctx.plan.rpmdb_path, ctx.env)
        changed = len(set(after) - set(before)) if not verb else len(set(before) - set(after))
    return f"{plural(changed, 'package')}{' ' + verb if verb else ''} ({' '.join(asked)})"


def add_declared_users(ctx: Context) -> None:
    """Users and groups from the image's sysusers.d files: rpm >= 4.19 made them during the
    transaction (with buildahpy.build.sysusers), an older rpm ignores sysusers.d altogether.
    First the account files a package left as .rpmnew because a user existed before them."""
    merged = accounts.adopt_rpmnew(ctx.rootfs)
    if merged:
        get_logger().debug("account files", merged=" ".join(merged))
    added = sysusers.apply_declared(ctx.rootfs)
    if added:
        get_logger().debug("sysusers", added=" ".join(map(repr, added)))


def remove_packages(ctx: Context, packages: list[str]) -> None:
    """A spec the recipe installed stops being required once a remove() names the packages
    that satisfied it; one that a remove takes along as a dependent is still required (and the
    build fails at the end, see packages.require_satisfied)."""
    check_host_paths(ctx.plan, ctx.rootfs)
    root = str(ctx.rootfs.path)
    with step("dnf remove", show=True, packages=" ".join(packages)) as note:
        asked = [*ctx.requested, *packages] if ctx.requested else []
        before = rpmdb.satisfying(root, ctx.plan.rpmdb_path, asked, ctx.env)
        names = rpmdb.names(root, ctx.plan.rpmdb_path, ctx.env)
        dnf.run_transaction(ctx.plan, dnf.remove_argv(ctx.plan, root, packages), ctx.env)
        note.detail = transaction_note(ctx, names, packages, "removed")
    taken = {name for spec in packages for name in before.get(spec, [])}
    ctx.requested = [s for s in ctx.requested if not before[s] or not set(before[s]) <= taken]
