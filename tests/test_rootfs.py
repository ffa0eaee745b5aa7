"""Confined edits: planted symlinks resolve inside the rootfs and never reach the host."""

import os
from pathlib import Path

import pytest

from buildahpy.api.validate import image_path
from buildahpy.build import accounts, scrub
from buildahpy.build.engine import copied_paths
from buildahpy.build.packages import owners, path_state
from buildahpy.errors import BuildError
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.packages import Package


@pytest.fixture
def host_sentinel(tmp_path: Path) -> Path:
    sentinel = tmp_path / "host"
    (sentinel / "etc").mkdir(parents=True)
    (sentinel / "etc" / "passwd").write_text("host-root:x:0:0::/root:/bin/sh\n")
    (sentinel / "keep").write_text("host data\n")
    return sentinel


def snapshot(path: Path) -> dict[str, bytes | str]:
    state: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            state[str(full.relative_to(path))] = full.read_bytes() if full.is_file() else "dir"
    return state


@pytest.fixture
def root(tmp_path: Path, host_sentinel: Path) -> RootFS:
    rootdir = tmp_path / "rootfs"
    (rootdir / "usr" / "share").mkdir(parents=True)
    (rootdir / "var").mkdir()
    # the attacks: an absolute link, a relative link climbing out, a symlinked parent directory
    (rootdir / "etc").symlink_to(host_sentinel / "etc")
    (rootdir / "usr" / "share" / "x").symlink_to("../../../../../../../.." + str(host_sentinel))
    (rootdir / "var" / "cache").symlink_to(host_sentinel)
    (rootdir / "var" / "log").symlink_to("../../../host")
    with RootFS(rootdir) as handle:
        yield handle


def test_writes_through_planted_links_stay_inside(root: RootFS, host_sentinel: Path) -> None:
    before = snapshot(host_sentinel)
    root.mkdir(str(host_sentinel / "etc"))  # the absolute link's target, made inside the root
    root.write_bytes("/etc/passwd", b"image:x:0:0::/:/sbin/nologin\n")
    root.write_bytes("/usr/share/x/keep", b"pwned\n")
    root.mkdir("/usr/share/x/newdir/deeper")
    root.symlink("/", "/usr/share/x/link")
    accounts.add_group(root, "nginx", 990)
    assert snapshot(host_sentinel) == before
    inside = root.path / str(host_sentinel).lstrip("/")
    assert (inside / "etc" / "passwd").read_text() == "image:x:0:0::/:/sbin/nologin\n"
    assert (inside / "keep").read_text() == "pwned\n"


def test_write_into_missing_link_target_fails_inside_not_on_host(
    root: RootFS, host_sentinel: Path
) -> None:
    before = snapshot(host_sentinel)
    with pytest.raises(FileNotFoundError):
        root.write_bytes("/etc/passwd", b"x")  # /etc -> <host>/etc does not exist in the root
    assert snapshot(host_sentinel) == before


def test_scrub_through_linked_cache_and_log_dirs_spares_the_host(
    root: RootFS, host_sentinel: Path
) -> None:
    (host_sentinel / "dnf").mkdir()
    (host_sentinel / "dnf.log").write_text("host log\n")
    before = snapshot(host_sentinel)
    scrub.remove_leftovers(root, [])
    root.remove("/var/cache")
    assert snapshot(host_sentinel) == before
    assert not (root.path / "var" / "cache").exists() and (root.path / "var" / "log").is_symlink()


def test_remove_deletes_the_link_not_its_target(root: RootFS, host_sentinel: Path) -> None:
    before = snapshot(host_sentinel)
    assert root.remove("/etc") is True
    assert not os.path.lexists(root.path / "etc")
    assert snapshot(host_sentinel) == before


def test_copy_in_and_symlink_replace(tmp_path: Path, root: RootFS) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("data")
    (src / "l").symlink_to("sub/f")
    root.copy_in(src, "/opt/app", 0o750)
    assert (root.path / "opt/app/sub/f").read_text() == "data"
    assert os.readlink(root.path / "opt/app/l") == "sub/f"
    assert (root.path / "opt/app").stat().st_mode & 0o7777 == 0o750
    root.symlink("/a", "/opt/ln")
    root.symlink("/b", "/opt/ln")
    assert os.readlink(root.path / "opt/ln") == "/b"
    with pytest.raises(BuildError, match="cannot replace directory"):
        root.symlink("/x", "/opt/app")


@pytest.mark.parametrize("bad", ["relative/path", "", "/etc/../../x", "/a/\0b"])
def test_image_paths_must_be_absolute_without_dotdot(bad: str) -> None:
    with pytest.raises(BuildError):
        image_path(bad)


def test_rpmdb_compat_link(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/sysimage/rpm").mkdir(parents=True)
    with RootFS(tmp_path) as handle:
        assert scrub.link_rpmdb(handle, "/usr/lib/sysimage/rpm") is True
        assert scrub.link_rpmdb(handle, "/usr/lib/sysimage/rpm") is False
    assert os.readlink(tmp_path / "var/lib/rpm") == "../../usr/lib/sysimage/rpm"


def test_leftovers_keep_dnf_state_only_when_the_image_has_dnf() -> None:
    assert "/var/lib/dnf" in scrub.leftovers(["bash"])
    assert "/var/lib/dnf" not in scrub.leftovers(["bash", "dnf"])
    assert "/var/cache/dnf" in scrub.leftovers(["dnf"])


def test_host_escape_names_the_link_the_host_tools_would_follow_out(
    root: RootFS, host_sentinel: Path, tmp_path: Path
) -> None:
    # dnf and rpm join the mountpoint and the path as strings: only links that stay inside pass
    climbed = str(tmp_path.parent / "host")  # var/log -> ../../../host, joined on the host
    assert root.host_escape("/var/log/dnf.log") == ("/var/log", climbed)
    assert root.host_escape("/var/cache/dnf") == ("/var/cache", str(host_sentinel))
    assert root.host_escape("/etc/dnf") == ("/etc", str(host_sentinel / "etc"))
    assert root.host_escape("/usr/share/x/y") == ("/usr/share/x", str(host_sentinel))
    assert root.host_escape("/usr/lib/sysimage/rpm") is None  # not there yet: inside
    root.mkdir("/var/lib")
    root.symlink("../../usr/lib/sysimage/rpm", "/var/lib/rpm")  # Fedora's compat link
    assert root.host_escape("/var/lib/rpm") is None
    assert root.host_escape("/var/cache/dnf", [str(host_sentinel)]) is None  # allowed dir
    assert scrub.host_tool_paths("/var/lib/rpm", dnf=False) == ("/var/lib/rpm",)
    assert {"/var/log/dnf.log", "/var/cache/dnf", "/var/lib/dnf", "/var/lib/rpm"} <= set(
        scrub.host_tool_paths("/var/lib/rpm", dnf=True)
    )


@pytest.fixture
def usrmerged(tmp_path: Path) -> RootFS:
    """A tree shaped like the images: /bin -> usr/bin, sh -> bash, a hard-linked file."""
    rootdir = tmp_path / "merged"
    (rootdir / "usr" / "bin").mkdir(parents=True)
    (rootdir / "usr" / "share" / "real").mkdir(parents=True)
    (rootdir / "bin").symlink_to("usr/bin")
    (rootdir / "usr" / "bin" / "bash").write_bytes(b"\x7fELF bash")
    (rootdir / "usr" / "bin" / "sh").symlink_to("bash")
    (rootdir / "usr" / "bin" / "gzip").write_bytes(b"\x7fELF gzip")
    os.link(rootdir / "usr" / "bin" / "gzip", rootdir / "usr" / "bin" / "gunzip")
    (rootdir / "usr" / "share" / "conf").symlink_to("real")
    with RootFS(rootdir) as handle:
        yield handle


def test_a_write_replaces_a_link_instead_of_writing_through_it(usrmerged: RootFS) -> None:
    bin_dir = usrmerged.path / "usr" / "bin"
    usrmerged.write_bytes("/bin/sh", b"#!/sbin/busybox sh\n", 0o755)
    assert not (bin_dir / "sh").is_symlink()
    assert (bin_dir / "sh").read_bytes() == b"#!/sbin/busybox sh\n"
    assert (bin_dir / "bash").read_bytes() == b"\x7fELF bash"
    usrmerged.write_bytes("/usr/bin/gunzip", b"script")
    assert (bin_dir / "gzip").read_bytes() == b"\x7fELF gzip"  # the other hard link kept
    assert (bin_dir / "gunzip").read_bytes() == b"script"


def test_follow_writes_where_the_link_leads_inside(usrmerged: RootFS) -> None:
    usrmerged.write_bytes("/usr/bin/sh", b"edited", follow=True)
    assert os.readlink(usrmerged.path / "usr/bin/sh") == "bash"
    assert (usrmerged.path / "usr/bin/bash").read_bytes() == b"edited"


def test_a_copy_replaces_links_at_its_destination(usrmerged: RootFS, tmp_path: Path) -> None:
    (tmp_path / "src" / "conf").mkdir(parents=True)
    (tmp_path / "src" / "conf" / "a").write_text("a")
    (tmp_path / "src" / "sh").write_text("sh")
    usrmerged.copy_in(tmp_path / "src" / "sh", "/bin/sh")
    usrmerged.copy_in(tmp_path / "src" / "conf", "/usr/share/conf")
    share = usrmerged.path / "usr" / "share"
    assert (usrmerged.path / "usr/bin/bash").read_bytes() == b"\x7fELF bash"
    assert (share / "conf").is_dir() and not (share / "conf").is_symlink()
    assert (share / "conf" / "a").read_text() == "a" and not list((share / "real").iterdir())


def test_real_path_resolves_linked_parents_only(usrmerged: RootFS) -> None:
    assert usrmerged.real_path("/bin/sh") == "/usr/bin/sh"
    assert usrmerged.real_path("/bin") == "/bin"
    assert usrmerged.real_path("/usr/share/conf/x") == "/usr/share/real/x"


def test_the_paths_a_recipe_made_are_tracked_and_changes_to_them_seen(
    usrmerged: RootFS, tmp_path: Path
) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_text("f")
    (tmp_path / "tree" / "l").symlink_to("/nowhere")
    assert copied_paths(tmp_path / "tree", "/opt/t") == [
        "/opt/t",
        "/opt/t/l",
        "/opt/t/sub",
        "/opt/t/sub/f",
    ]
    usrmerged.symlink("/sbin/busybox", "/bin/sh")
    usrmerged.mkdir("/usr/share/made")
    link, made = path_state(usrmerged, "/bin/sh"), path_state(usrmerged, "/usr/share/made")
    usrmerged.write_bytes("/usr/share/made/new", b"x")  # a directory's entries may change
    assert path_state(usrmerged, "/usr/share/made") == made
    usrmerged.symlink("bash", "/bin/sh")
    assert path_state(usrmerged, "/bin/sh") != link
    usrmerged.remove("/usr/bin/sh")
    assert path_state(usrmerged, "/bin/sh") is None
    packages = {
        "bash": Package(
            "bash", "bash-1-1.x86_64", 1, (), (), (), (("/usr/bin/sh", 0, 0, "normal", "", -1),)
        )
    }
    assert owners(packages, {"/bin/sh", "/usr/bin/sh"}) == ["bash"] and not owners(packages, {"/x"})


def test_resolve_follows_links_inside_the_image(root: RootFS, host_sentinel: Path) -> None:
    root.mkdir("/usr/bin")
    root.write_bytes("/usr/bin/busybox", b"x", 0o755)
    root.symlink("usr/bin", "/bin")
    root.symlink("/usr/bin/busybox", "/usr/bin/sh")
    root.symlink("../../../../../bin/sh", "/usr/bin/climb")
    assert root.resolve("/bin/sh") == "/usr/bin/busybox"
    assert root.resolve("/usr/bin/climb") == "/usr/bin/busybox"  # '..' stops at the image's /
    assert root.resolve("/etc/passwd") is None  # /etc -> <host>/etc, which the image lacks
    assert root.resolve("/usr/share/x/keep") is None  # the host has it, the image does not
    root.symlink("/loop", "/loop")
    assert root.resolve("/loop") is None
    assert root.stat("/bin/sh") is not None and root.stat("/etc/passwd") is None
    assert snapshot(host_sentinel)  # untouched, still there


def test_regular_files_walk_the_image_once_without_following_links(
    root: RootFS, host_sentinel: Path
) -> None:
    root.mkdir("/usr/lib/debug")
    root.write_bytes("/usr/lib/libx.so", b"x")
    root.write_bytes("/usr/lib/debug/libx.debug", b"x")
    root.symlink("/usr/lib", "/lib")
    os.mkfifo(root.path / "usr/fifo")
    walked = []
    for directory, dir_fd, name in root.regular_files(["/usr/lib/debug"]):
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)  # the fd is the file's directory
        walked.append(f"{directory.rstrip('/')}/{name}")
    # nothing of the host (/etc, /var/cache, /usr/share/x lead there), no link, no fifo
    assert walked == ["/usr/lib/libx.so"]
    assert root.open_regular("/usr/fifo") is None
    fd = root.open_regular("/lib/libx.so")
    assert fd is not None and os.pread(fd, 1, 0) == b"x"
    os.close(fd)
