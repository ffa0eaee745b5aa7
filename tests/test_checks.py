"""The checks before commit, on temporary trees: entrypoint, user, workdir and libraries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from elfkit import EM_386, write_elf

from buildahpy.api.config import ImageConfig
from buildahpy.build import linkage
from buildahpy.build.checks import Runtime, find_account, run_checks, runtime
from buildahpy.build.entrypoint import Account, Start, Unfit
from buildahpy.build.entrypoint import check as check_program
from buildahpy.errors import BuildError
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.distro import Target

LD = "/lib64/ld-linux-x86-64.so.2"
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A usr-merged image: /bin, /lib64 link into /usr; ld.so, libc and a shell."""
    root = tmp_path / "rootfs"
    for directory in ("usr/bin", "usr/lib64", "etc", "tmp"):
        (root / directory).mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "lib64").symlink_to("usr/lib64")
    write_elf(root / "usr/lib64/ld-linux-x86-64.so.2", soname="ld-linux-x86-64.so.2")
    write_elf(root / "usr/lib64/libc.so.6", soname="libc.so.6", needed=("ld-linux-x86-64.so.2",))
    write_elf(root / "usr/bin/sh", interp=LD, needed=("libc.so.6",))
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root


@pytest.fixture
def root(tree: Path) -> Iterator[RootFS]:
    with RootFS(tree) as handle:
        yield handle


def start(*argv: str, path: str = "/usr/bin:/bin", account: Account | None = None) -> Start:
    return Start(argv, path, "/", account or Account())


# -- entrypoint ----------------------------------------------------------------------------------
def test_program_through_a_linked_directory(root: RootFS) -> None:
    assert (
        check_program(root, start("/bin/sh")) == f"/bin/sh -> /usr/bin/sh (ELF, interpreter {LD})"
    )


def test_relative_name_is_looked_up_on_path(root: RootFS) -> None:
    assert check_program(root, start("sh", path="/nowhere:/bin")).startswith("sh -> /usr/bin/sh")
    with pytest.raises(Unfit, match=r"^nginx is not on the image's PATH \(/usr/bin:/bin\)$"):
        check_program(root, start("nginx"))


def test_missing_program(root: RootFS) -> None:
    with pytest.raises(Unfit, match=r"^/usr/sbin/nginx is not in the image$"):
        check_program(root, start("/usr/sbin/nginx"))


def test_links_that_lead_to_host_files_resolve_inside(tree: Path, root: RootFS) -> None:
    host = tree.parent / "host-tool"
    write_elf(host, interp=LD, needed=("libc.so.6",))  # a real program, on the host only
    (tree / "usr/bin/abs").symlink_to(host)
    (tree / "usr/bin/rel").symlink_to("../../../../../../../../.." + str(host))
    for name in ("/usr/bin/abs", "/usr/bin/rel"):
        with pytest.raises(Unfit, match=rf"^{name} is not in the image$"):
            check_program(root, start(name))


def test_not_executable_and_not_for_this_user(tree: Path, root: RootFS) -> None:
    write_elf(tree / "usr/bin/plain", mode=0o644, interp=LD)
    with pytest.raises(Unfit, match=r"^/usr/bin/plain is not executable \(mode 0644\)$"):
        check_program(root, start("/usr/bin/plain"))
    write_elf(tree / "usr/bin/private", mode=0o750, interp=LD)
    os.chown(tree / "usr/bin/private", 0, 50)
    assert check_program(root, start("/usr/bin/private"))  # root may
    app = find_account(root, "app")
    assert app == Account(1000, 1000, frozenset({50}))  # staff, as a member
    assert check_program(root, start("/usr/bin/private", account=app))
    with pytest.raises(Unfit, match=r"not executable by uid 1001"):
        check_program(root, start("/usr/bin/private", account=Account(1001, 1001)))


def test_scripts_need_their_interpreter(tree: Path, root: RootFS) -> None:
    script = tree / "usr/bin/start"
    script.write_text("#!/usr/bin/python3 -u\nprint(1)\n")
    script.chmod(0o755)
    with pytest.raises(Unfit, match=r"^/usr/bin/start is a script for /usr/bin/python3, which is"):
        check_program(root, start("/usr/bin/start"))
    write_elf(tree / "usr/bin/python3", mode=0o644, interp=LD)
    with pytest.raises(
        Unfit, match=r"^/usr/bin/python3 \(the interpreter of /usr/bin/start\) is not"
    ):
        check_program(root, start("/usr/bin/start"))
    (tree / "usr/bin/python3").chmod(0o755)
    assert (
        check_program(root, start("start"))
        == "start -> /usr/bin/start (script for /usr/bin/python3 -u)"
    )


def test_env_scripts_need_the_program_on_path(tree: Path, root: RootFS) -> None:
    write_elf(tree / "usr/bin/env", interp=LD)
    script = tree / "usr/bin/run"
    script.write_text("#!/usr/bin/env -S ruby -w\n")
    script.chmod(0o755)
    with pytest.raises(
        Unfit, match=r"script for /usr/bin/env ruby, and ruby is not on the image's"
    ):
        check_program(root, start("/usr/bin/run"))
    write_elf(tree / "usr/bin/ruby", interp=LD)
    assert "script for /usr/bin/env -S ruby -w" in check_program(root, start("/usr/bin/run"))


def test_scripts_nest_four_deep_at_most(tree: Path, root: RootFS) -> None:
    previous = "/usr/bin/sh"
    for level in range(5):
        (tree / f"usr/bin/s{level}").write_text(f"#!{previous}\n")
        (tree / f"usr/bin/s{level}").chmod(0o755)
        previous = f"/usr/bin/s{level}"
    assert check_program(root, start("/usr/bin/s3"))
    with pytest.raises(Unfit, match=r"too many levels"):
        check_program(root, start("/usr/bin/s4"))


def test_neither_elf_nor_script_and_a_missing_elf_interpreter(tree: Path, root: RootFS) -> None:
    (tree / "usr/bin/data").write_bytes(b"MZ\x90\x00")
    (tree / "usr/bin/data").chmod(0o755)
    with pytest.raises(Unfit, match=r"neither an ELF binary nor a script"):
        check_program(root, start("/usr/bin/data"))
    write_elf(tree / "usr/bin/musl", interp="/lib/ld-musl-x86_64.so.1")
    with pytest.raises(Unfit, match=r"needs its ELF interpreter /lib/ld-musl-x86_64.so.1, which"):
        check_program(root, start("/usr/bin/musl"))
    (tree / "usr/bin/dir").mkdir()
    with pytest.raises(Unfit, match=r"^/usr/bin/dir is a directory$"):
        check_program(root, start("/usr/bin/dir"))


# -- user ----------------------------------------------------------------------------------------
def test_user_specs(root: RootFS) -> None:
    assert find_account(root, "app") == Account(1000, 1000, frozenset({50}))
    assert find_account(root, "app:staff") == Account(1000, 50, frozenset({50}))
    assert find_account(root, "app:7") == Account(1000, 7, frozenset({50}))
    assert find_account(root, "4242") == Account(4242, 0)  # numeric: need not be listed
    assert find_account(root, "1000:1000") == Account(1000, 1000, frozenset({50}))
    with pytest.raises(Unfit, match=r"^user 'nginx' is not in the image's /etc/passwd$"):
        find_account(root, "nginx")
    with pytest.raises(Unfit, match=r"^group 'web' is not in the image's /etc/group$"):
        find_account(root, "app:web")


def test_an_image_without_passwd(tree: Path, root: RootFS) -> None:
    (tree / "etc/passwd").unlink()
    with pytest.raises(Unfit, match=r"/etc/passwd \(the image has none\)"):
        find_account(root, "app")
    assert find_account(root, "0:0") == Account()


# -- the checks together: workdir, opting out, the one error line ---------------------------------
def test_workdir_is_made_for_the_user(tree: Path, root: RootFS) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another uid needs root")
    image = Runtime(entrypoint=("/bin/sh",), user="app", workdir="/srv/app/data")
    outcomes = run_checks(root, image, {"libraries": "made elsewhere"})
    assert outcomes["workdir"] == "created /srv/app/data (owner 1000:1000)"
    made = (tree / "srv/app/data").stat()
    assert (made.st_uid, made.st_gid, made.st_mode & 0o777) == (1000, 1000, 0o755)
    assert (tree / "srv/app").stat().st_uid == 0
    assert run_checks(root, image, {})["workdir"] == "ok: /srv/app/data"


def test_a_failure_is_one_build_error_naming_the_check(tree: Path, root: RootFS) -> None:
    (tree / "etc/motd").write_text("hi\n")
    cases = {
        Runtime(entrypoint=("/usr/sbin/nginx",)): "check entrypoint: /usr/sbin/nginx is not in",
        Runtime(cmd=("sh",), user="web"): "check user: user 'web' is not in",
        Runtime(cmd=("sh",), workdir="/etc/motd"): "check workdir: /etc/motd is in the image but",
    }
    for image, message in cases.items():
        with pytest.raises(BuildError, match=f"^{message}"):
            run_checks(root, image, {})


def test_opted_out_checks_are_skipped_with_their_reason(root: RootFS) -> None:
    image = Runtime(entrypoint=("/usr/sbin/nginx",), user="web")
    skip = {"entrypoint": "started by the base's init", "user": "made at run time"}
    outcomes = run_checks(root, image, skip)
    assert outcomes == {
        "user": "skipped by the recipe: made at run time",
        "workdir": "skipped: no workdir set",
        "entrypoint": "skipped by the recipe: started by the base's init",
        "libraries": outcomes["libraries"],
        "os-release": "skipped: no target",
    }
    assert outcomes["libraries"].startswith("ok: 2 ELF files need libraries, all found")
    assert run_checks(root, Runtime(), {})["entrypoint"] == "skipped: no entrypoint"


def test_the_config_checked_is_the_recipes_over_the_base_images() -> None:
    base = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["x"], "Env": ["PATH=/b", "A=1"], "User": "5"}
    mine = ImageConfig().merge(cmd=["run"], env={"A": "2"}, workdir="/w")
    assert runtime(mine, base) == Runtime(
        entrypoint=("/bin/sh", "-c"),
        cmd=("run",),
        env=(("A", "2"), ("PATH", "/b")),
        user="5",
        workdir="/w",
    )
    assert runtime(ImageConfig().merge(entrypoint=["/e"]), {}) == Runtime(entrypoint=("/e",))


# -- libraries -----------------------------------------------------------------------------------
def test_libraries_found_on_the_default_path(root: RootFS) -> None:
    found = linkage.check_tree(root)
    assert (found.elves, found.needing, found.missing) == (3, 2, ())


def test_a_missing_library_names_file_library_and_search_path(tree: Path, root: RootFS) -> None:
    write_elf(tree / "usr/sbin/nginx", interp=LD, needed=("libc.so.6", "libpcre2-8.so.0"))
    (missing,) = linkage.check_tree(root).missing
    assert str(missing).startswith(
        "/usr/sbin/nginx needs libpcre2-8.so.0, which is not in the image (search path: "
    )
    assert ":/lib64:/usr/lib64:/lib:/usr/lib)" in str(missing)


def test_runpath_origin_and_ld_so_conf(tree: Path, root: RootFS) -> None:
    write_elf(tree / "opt/app/lib/libapp.so.1", soname="libapp.so.1")
    write_elf(
        tree / "opt/app/bin/app", interp=LD, needed=("libapp.so.1",), runpath="$ORIGIN/../lib"
    )
    write_elf(tree / "opt/tool/bin/tool", interp=LD, needed=("libtool.so.2",))
    write_elf(tree / "opt/tool/lib/libtool.so.2")
    (missing,) = linkage.check_tree(root).missing
    assert (missing.file, missing.library) == ("/opt/tool/bin/tool", "libtool.so.2")
    (tree / "etc/ld.so.conf").write_text("include ld.so.conf.d/*.conf\n")
    (tree / "etc/ld.so.conf.d").mkdir()
    (tree / "etc/ld.so.conf.d/tool.conf").write_text("# the tool\n/opt/tool/lib\n")
    assert linkage.ld_so_conf(root) == ["/opt/tool/lib"]
    assert linkage.check_tree(root).missing == ()


def test_a_library_of_another_architecture_does_not_count(tree: Path, root: RootFS) -> None:
    write_elf(tree / "usr/lib64/libfoo.so.1", bits=32, machine=EM_386)
    write_elf(tree / "usr/bin/foo", interp=LD, needed=("libfoo.so.1",))
    (missing,) = linkage.check_tree(root).missing
    assert "(/lib64/libfoo.so.1 is built for another)" in str(missing)


def test_a_library_link_to_a_host_file_does_not_count(tree: Path, root: RootFS) -> None:
    host = write_elf(tree.parent / "host-libfoo.so.1", soname="libfoo.so.1")
    (tree / "usr/lib64/libfoo.so.1").symlink_to(host)
    write_elf(tree / "usr/bin/foo", interp=LD, needed=("libfoo.so.1",))
    (missing,) = linkage.check_tree(root).missing
    assert missing.library == "libfoo.so.1"


def test_a_librarys_needs_may_be_loaded_first_by_its_program(tree: Path, root: RootFS) -> None:
    # a JDK: bin/java loads lib/server/libjvm.so itself; lib/libjava.so then needs libjvm.so
    write_elf(tree / "opt/jdk/lib/server/libjvm.so", soname="libjvm.so")
    write_elf(tree / "opt/jdk/lib/libjava.so", needed=("libjvm.so",), runpath="$ORIGIN")
    found = linkage.check_tree(root)
    assert found.missing == () and [m.file for m in found.loaded_first] == [
        "/opt/jdk/lib/libjava.so"
    ]
    # a program is held to its search path, and a library gone from the image is reported
    write_elf(tree / "opt/jdk/bin/jcmd", interp=LD, needed=("libjvm.so",), runpath="$ORIGIN/../lib")
    write_elf(tree / "opt/jdk/lib/libnet.so", needed=("libnio.so",), runpath="$ORIGIN")
    assert [(m.file, m.library) for m in linkage.check_tree(root).missing] == [
        ("/opt/jdk/bin/jcmd", "libjvm.so"),
        ("/opt/jdk/lib/libnet.so", "libnio.so"),
    ]


def test_a_missing_elf_interpreter_and_debug_files(tree: Path, root: RootFS) -> None:
    write_elf(tree / "usr/lib/debug/usr/bin/x.debug", interp="/nope", needed=("libnope.so",))
    assert linkage.check_tree(root).missing == ()  # separate debug info is never walked
    write_elf(tree / "usr/bin/musl", interp="/lib/ld-musl-x86_64.so.1")
    (missing,) = linkage.check_tree(root).missing
    assert str(missing) == (
        "/usr/bin/musl needs its ELF interpreter /lib/ld-musl-x86_64.so.1, "
        "which is not in the image"
    )


FEDORA_40 = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n'


@pytest.mark.parametrize(
    ("text", "target", "outcome"),
    [
        (FEDORA_40, Target("fedora", "40"), "ok: fedora 40"),
        (FEDORA_40, Target("fedora", "41"), "names fedora 40, not the target fedora 41"),
        ("ID=centos\nVERSION_ID=9\n", Target("centos-stream", "9"), "ok: centos 9"),
        ('ID="rhel"\nVERSION_ID="9.4"\n', Target("ubi", "9"), "ok: rhel 9.4"),
        ('ID="rhel"\nVERSION_ID="8.10"\n', Target("rhel", "9"), "names rhel 8.10, not"),
        ("ID=centos\nVERSION_ID=9\n", Target("fedora", "40"), "names centos 9, not"),
        (None, Target("fedora", "40"), "the image has no /etc/os-release (install fedora-"),
    ],
)
def test_os_release_must_name_the_target(
    tree: Path, root: RootFS, text: str | None, target: Target, outcome: str
) -> None:
    if text is not None:
        (tree / "usr/lib").mkdir(parents=True, exist_ok=True)
        (tree / "usr/lib/os-release").write_text(text)
        (tree / "etc/os-release").symlink_to("../usr/lib/os-release")
    skip = {"entrypoint": "-", "libraries": "-"}
    if outcome.startswith("ok"):
        assert run_checks(root, Runtime(), skip, target)["os-release"] == outcome
        return
    with pytest.raises(BuildError, match=r"^check os-release: ") as failed:
        run_checks(root, Runtime(), skip, target)
    assert outcome in str(failed.value)


def test_os_release_is_read_inside_the_image(tree: Path, root: RootFS, tmp_path: Path) -> None:
    host = tmp_path / "host-os-release"
    host.write_text(FEDORA_40)
    (tree / "etc/os-release").symlink_to(str(host))  # absolute: resolves inside the image
    with pytest.raises(BuildError, match="has no /etc/os-release"):
        run_checks(root, Runtime(), {"libraries": "-"}, Target("fedora", "40"))
