"""The live engine behind a recipe's ``image`` object, and the dnf transactions it runs.

Host binaries: dnf (through dnf.py and packages.py), buildah (``image.run``).
"""

from __future__ import annotations

from pathlib import Path

from . import accounts, buildah, dnf, scrub, sysusers
from . import packages as packages_mod
from .context import Context
from .errors import BuildError
from .log import get_logger, step


class LiveEngine:
    """Carries out the recipe's calls. Installs are batched until the rootfs is next touched."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def flush(self) -> None:
        if self.ctx.pending:
            packages, self.ctx.pending = self.ctx.pending, []
            install_packages(self.ctx, packages)
            add_declared_users(self.ctx)

    def install(self, packages: list[str]) -> None:
        self.ctx.pending += packages

    def remove(self, packages: list[str]) -> None:
        self.flush()
        remove_packages(self.ctx, packages)

    def _edit(self, what: str, path: str, action: object) -> None:
        self.flush()
        try:
            action()  # type: ignore[operator]
        except OSError as exc:
            raise BuildError(f"{what} {path} in the image: {exc.strerror or exc}") from None

    def write(self, path: str, data: bytes, mode: int) -> None:
        self._edit("cannot write", path, lambda: self.ctx.rootfs.write_bytes(path, data, mode))

    def copy(self, source: Path, dest: str, mode: int | None) -> None:
        self._edit("cannot copy to", dest, lambda: self.ctx.rootfs.copy_in(source, dest, mode))

    def mkdir(self, path: str, mode: int) -> None:
        self._edit("cannot create directory", path, lambda: self.ctx.rootfs.mkdir(path, mode))

    def symlink(self, target: str, link: str) -> None:
        self._edit("cannot create symlink", link, lambda: self.ctx.rootfs.symlink(target, link))

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

    def rootfs(self) -> Path:
        self.flush()
        return self.ctx.rootfs.path


def check_host_paths(ctx: Context, *, dnf: bool = True) -> None:
    """Our own edits are confined (rootfs.py); the host's dnf and rpm are not: they open their
    caches, logs and rpmdb under the mountpoint as host paths and follow links on the host. A
    link planted by a package's scriptlet or a base image would lead them out: stop first."""
    allowed = [ctx.plan.cachedir] if ctx.plan.cachedir else []  # cache.link_into's own link
    tool = "dnf" if dnf else "rpm"
    for path in scrub.host_tool_paths(ctx.plan.rpmdb_path, dnf=dnf):
        escape = ctx.rootfs.host_escape(path, allowed)
        if escape:
            raise BuildError(
                f"the image's {escape[0]} leads out of the image (to {escape[1]} on the host); "
                f"the host's {tool} would write through it, so it is not run"
            )


def install_packages(ctx: Context, packages: list[str]) -> None:
    check_host_paths(ctx)
    with step("dnf install", packages=" ".join(packages)):
        root = str(ctx.rootfs.path)
        has_db = ctx.rootfs.exists(ctx.plan.rpmdb_path)
        installed = packages_mod.installed_names(ctx.plan, root, ctx.env, has_db)
        if ctx.base_packages is None:
            ctx.base_packages = installed
        named = ctx.image.installed if ctx.image else packages
        hidden = packages_mod.install(ctx.plan, root, ctx.env, packages, named, installed)
        ctx.hidden += [name for name in hidden if name not in ctx.hidden]


def add_declared_users(ctx: Context) -> None:
    """Users and groups from the image's sysusers.d files: rpm >= 4.19 made them during the
    transaction (with buildahpy.sysusers), an older rpm ignores sysusers.d altogether. First
    the account files a package left as .rpmnew because a user existed before them."""
    merged = accounts.adopt_rpmnew(ctx.rootfs)
    if merged:
        get_logger().debug("account files", merged=" ".join(merged))
    added = sysusers.apply_declared(ctx.rootfs)
    if added:
        get_logger().debug("sysusers", added=" ".join(map(repr, added)))


def remove_packages(ctx: Context, packages: list[str]) -> None:
    check_host_paths(ctx)
    with step("dnf remove", packages=" ".join(packages)):
        argv = dnf.remove_argv(ctx.plan, str(ctx.rootfs.path), packages)
        dnf.run_transaction(argv, ctx.env)
