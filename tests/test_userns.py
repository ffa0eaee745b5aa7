"""Rootless preflight parsers and the re-execution guard, as data."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from buildahpy.errors import PreflightError
from buildahpy.host.userns import (
    StorageConf,
    idmap_helper_problem,
    is_initial_namespace,
    kernel_version,
    parse_storage_conf,
    parse_subids,
    storage_conf_paths,
    storage_problem,
    subid_problem,
    userns_sysctl_problem,
)
from buildahpy.privilege import rootless

SUBUID = """\
# comment
alice:100000:65536
1001:300000:1000
bob:165536:65536
alice:500000:0
broken line
carol:x:10
"""


def test_subid_ranges_by_name_and_by_uid() -> None:
    assert parse_subids(SUBUID, "alice", 1001) == [(100000, 65536), (300000, 1000)]
    assert parse_subids(SUBUID, "bob", 1002) == [(165536, 65536)]
    assert parse_subids(SUBUID, "carol", 1003) == []
    assert parse_subids(SUBUID, None, 1001) == [(300000, 1000)]
    assert parse_subids("", "alice", 1001) == []


def test_missing_subids_say_how_to_add_them() -> None:
    assert subid_problem("uid", [(100000, 65536)], "alice") is None
    message = subid_problem("gid", [], "dave")
    assert message is not None
    assert "no subordinate gids for user 'dave' in /etc/subgid" in message
    assert "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 dave" in message


SETUID = stat.S_IFREG | stat.S_ISUID | 0o755


@pytest.mark.parametrize(
    ("path", "mode", "owner", "caps", "needle"),
    [
        ("/usr/bin/newuidmap", SETUID, 0, False, None),  # Debian: setuid root
        ("/usr/bin/newuidmap", stat.S_IFREG | 0o755, 0, True, None),  # Fedora: file caps
        (None, 0, 0, False, "'newuidmap' is missing: install uidmap"),
        ("/usr/bin/newuidmap", stat.S_IFREG | 0o755, 0, False, "chmod u+s /usr/bin/newuidmap"),
        ("/usr/bin/newuidmap", SETUID, 1000, False, "neither setuid root"),
        ("/usr/bin/newuidmap", stat.S_IFREG | 0o644, 0, True, "is not executable"),
    ],
)
def test_idmap_helpers_must_be_privileged(
    path: str | None, mode: int, owner: int, caps: bool, needle: str | None
) -> None:
    problem = idmap_helper_problem("newuidmap", path, mode, owner, caps)
    assert (problem is None) if needle is None else (needle in (problem or ""))


def test_user_namespace_sysctls() -> None:
    assert userns_sysctl_problem("15000\n", None) is None
    assert "user.max_user_namespaces" in (userns_sysctl_problem("0\n", None) or "")
    assert "unprivileged_userns_clone=1" in (userns_sysctl_problem("100", "0\n") or "")


def test_storage_conf_driver_and_mount_program() -> None:
    new = '[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "/x/fo"\n'
    assert parse_storage_conf(new, "a") == StorageConf("a", "overlay", "/x/fo")
    old = '[storage]\ndriver = "overlay"\n[storage.options]\nmount_program = "/y/fo"\n'
    assert parse_storage_conf(old, "b") == StorageConf("b", "overlay", "/y/fo")
    assert parse_storage_conf("", "c") == StorageConf("c", "", "")
    with pytest.raises(PreflightError, match="d is not valid TOML"):
        parse_storage_conf("[storage\n", "d")


def test_storage_conf_precedence() -> None:
    assert storage_conf_paths({"CONTAINERS_STORAGE_CONF": "/s.conf"}, "/home/a") == ["/s.conf"]
    assert storage_conf_paths({}, "/home/a") == [
        "/home/a/.config/containers/storage.conf",
        "/etc/containers/storage.conf",
        "/usr/share/containers/storage.conf",
    ]
    assert storage_conf_paths({"XDG_CONFIG_HOME": "/cfg"}, "/home/a")[0] == (
        "/cfg/containers/storage.conf"
    )


def test_kernel_version() -> None:
    assert kernel_version("6.18.44-fc-v782") == (6, 18)
    assert kernel_version("5.4.0-150-generic") == (5, 4)
    assert kernel_version("weird") == (0, 0)


def test_storage_driver_verdicts(tmp_path: Path) -> None:
    conf = StorageConf("/home/a/.config/containers/storage.conf")
    ok = storage_problem(conf, "overlay", (5, 13), None, False)
    assert ok is None  # native rootless overlay
    assert storage_problem(conf, "vfs", (4, 18), None, False) is None
    assert storage_problem(conf, "", (4, 18), None, False) is None  # storage picks one
    old_kernel = storage_problem(conf, "overlay", (5, 10), None, False) or ""
    assert "needs Linux >= 5.13" in old_kernel and "install fuse-overlayfs" in old_kernel
    assert 'driver = "vfs"' in old_kernel and conf.path in old_kernel
    assert storage_problem(conf, "overlay", (5, 10), "/usr/bin/fuse-overlayfs", True) is None
    no_fuse = storage_problem(conf, "overlay", (5, 10), "/usr/bin/fuse-overlayfs", False) or ""
    assert "/dev/fuse" in no_fuse
    program = tmp_path / "fuse-overlayfs"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    configured = StorageConf(conf.path, "overlay", str(program))
    assert storage_problem(configured, "overlay", (6, 1), None, True) is None
    gone = StorageConf(conf.path, "overlay", "/nonexistent/fuse-overlayfs")
    assert "is missing" in (storage_problem(gone, "overlay", (6, 1), None, True) or "")


def test_initial_namespace_is_the_identity_map() -> None:
    assert is_initial_namespace("         0          0 4294967295\n")
    assert not is_initial_namespace("0 1001 1\n1 100000 65536\n")


def test_reexecution_happens_once_and_only_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert rootless.needs_namespace(False, {})
    assert not rootless.needs_namespace(True, {})  # --list, --dry-run
    assert not rootless.needs_namespace(False, {rootless.MARKER: "101"})  # never loops
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert not rootless.needs_namespace(False, {})
    argv = rootless.unshare_argv(["recipes/nginx.py", "--only", "a b", "-v"])
    assert argv[:3] == ["buildah", "unshare", "--"]
    assert argv[4:] == ["-m", "buildahpy", "recipes/nginx.py", "--only", "a b", "-v"]


def test_announce_reports_the_pid_and_hides_the_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    monkeypatch.setenv(rootless.MARKER, str(write_fd))
    rootless.announce()
    assert rootless.MARKER not in os.environ
    assert not os.get_inheritable(write_fd)
    os.close(write_fd)
    assert os.read(read_fd, 100) == f"pid {os.getpid()}\n".encode()
    os.close(read_fd)
