"""dnf and buildah command lines, checked as data (no process is started)."""

from pathlib import Path

import pytest
from plans import planned

from buildahpy.api import validate
from buildahpy.api.config import ImageConfig
from buildahpy.errors import BuildError
from buildahpy.host import buildah, dnf
from buildahpy.plan.distro import HostRelease

DEBIAN = HostRelease(id="debian", version_id="12", id_like=())


def test_dnf4_install_argv_is_exact(tmp_path: Path) -> None:
    plan = planned(tmp_path, dnf.DNF4)
    assert dnf.install_argv(plan, "/mnt", ["bash", "glibc-minimal-langpack"]) == [
        "dnf",
        "-y",
        "--installroot=/mnt",
        "--releasever=42",
        "--config=/w/dnf.conf",
        "--setopt=reposdir=/w/repos.d",
        "--setopt=install_weak_deps=False",
        "--setopt=tsflags=nodocs",
        "--setopt=keepcache=False",
        "--noplugins",
        "--setopt=varsdir=/etc/dnf/vars,/etc/yum/vars",
        "install",
        "bash",
        "glibc-minimal-langpack",
    ]


def test_dnf5_install_argv_uses_dnf5_spellings_and_host_vars(tmp_path: Path) -> None:
    plan = planned(tmp_path, dnf.DNF5)
    assert dnf.install_argv(plan, "/mnt", ["nginx"]) == [
        "dnf",
        "-y",
        "--installroot=/mnt",
        "--releasever=42",
        "--config=/w/dnf.conf",
        "--setopt=reposdir=/w/repos.d",
        "--setopt=install_weak_deps=False",
        "--setopt=tsflags=nodocs",
        "--setopt=keepcache=False",
        "--no-plugins",
        "--setopt=varsdir=/etc/dnf/vars,/etc/yum/vars",
        "--setopt=optional_metadata_types=filelists",  # file-path specs outside primary.xml
        "install",
        "nginx",
    ]


def test_weak_deps_and_docs_on_when_the_recipe_asks(tmp_path: Path) -> None:
    argv = dnf.remove_argv(planned(tmp_path, dnf.DNF4, weak_deps=True, docs=True), "/m", ["x"])
    assert "--setopt=install_weak_deps=True" in argv
    assert "--setopt=tsflags=" in argv
    assert argv[-2:] == ["remove", "x"]


@pytest.mark.parametrize(
    "bad",
    [
        "--installroot=/",
        "-y",
        "--setopt=tsflags=",
        "a;b",
        "$(id)",
        "a b",
        "`x`",
        "",
        "x\ny",
        "a|b",
        "a>b",
        "a&b",
    ],
)
def test_package_names_that_could_become_options_or_shell_are_rejected(bad: str) -> None:
    with pytest.raises(BuildError, match="invalid package name"):
        validate.check_packages([bad])


@pytest.mark.parametrize(
    "good",
    [
        "nginx",
        "glibc-minimal-langpack",
        "/usr/bin/sh",
        "pkgconfig(zlib)",
        "python3.12",
        "gcc-c++",
        "nginx-1:1.26*",
    ],
)
def test_ordinary_package_specs_pass(good: str) -> None:
    assert validate.check_packages([good]) == [good]


@pytest.mark.parametrize(
    ("output", "flavour"),
    [
        ("4.14.0\n  Installed: dnf-0:4.14.0-1.noarch at ...\n", dnf.DNF4),
        ("dnf5 version 5.2.8.1\ndnf5 plugin API version 2.0\nlibdnf5 version 5.2.8.1\n", dnf.DNF5),
    ],
)
def test_flavour_from_version_output(output: str, flavour: str) -> None:
    assert dnf.detect_flavour(output) == flavour


def test_buildah_config_argv_serialises_json_and_sorts() -> None:
    config = ImageConfig().merge(
        entrypoint=["/usr/sbin/nginx", "-g", "daemon off;"],
        cmd=["--x"],
        env={"B": "2", "A": "1 2"},
        workdir="/srv",
        user="nginx",
        ports=["80", "443/tcp"],
        labels={"z": "1", "a": "2"},
        volumes=["/data"],
    )
    assert buildah.config_argv("c1", config) == [
        "buildah",
        "config",
        '--entrypoint=["/usr/sbin/nginx", "-g", "daemon off;"]',
        '--cmd=["--x"]',
        "--env=A=1 2",
        "--env=B=2",
        "--workingdir=/srv",
        "--user=nginx",
        "--port=443/tcp",
        "--port=80/tcp",
        "--label=a=2",
        "--label=z=1",
        "--volume=/data",
        "c1",
    ]


def test_commit_names_the_image_only_pending_so_the_tag_moves_only_after_success() -> None:
    argv = buildah.commit_argv("c1", "/w/iid", "localhost/c1:pending")
    assert argv[-2:] == ["c1", "localhost/c1:pending"]
    assert [a for a in argv if ":" in a] == ["localhost/c1:pending"]


def test_explain_failure_names_the_missing_package() -> None:
    for flavour in dnf.FLAVOURS.values():
        msg = flavour.explain_failure(
            "", "No match for argument: ngnix\nError: Unable to find a match: ngnix"
        )
        assert msg == "package not found in the enabled repositories: ngnix", flavour.name


def test_flavour_from_the_installed_file(tmp_path: Path) -> None:
    script = tmp_path / "dnf-3"
    script.write_text("#!/usr/bin/python3\nimport dnf\n")
    (tmp_path / "dnf").symlink_to("dnf-3")
    (tmp_path / "dnf5").write_bytes(b"\x7fELF")
    (tmp_path / "dnf-new").symlink_to("dnf5")
    (tmp_path / "odd").write_bytes(b"\x7fELF")
    assert dnf.flavour_from_path(str(tmp_path / "dnf")) == dnf.DNF4
    assert dnf.flavour_from_path(str(tmp_path / "dnf-new")) == dnf.DNF5
    assert dnf.flavour_from_path(str(tmp_path / "odd")) is None


DOWNLOAD_FAILED = """\
Dependencies resolved.
================================================================================
 Package          Architecture    Version                Repository        Size
================================================================================
Installing:
 busybox          x86_64          1.35.0-1.fc40          fixture          1.1 M

Downloading Packages:
[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Status code: 503 for http://127.0.0.1:8/Packages/busybox-1.35.0-1.fc40.x86_64.rpm (IP: 127.0.0.1)
[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Downloading successful, but checksum doesn't match. Calculated: 4f74(sha256)  Expected: a245(sha256)
[FAILED] busybox-1.35.0-1.fc40.x86_64.rpm: No more mirrors to try - All mirrors were already tried without success
"""  # noqa: E501 - dnf's own lines


def test_explain_failure_names_the_file_the_repository_and_the_last_cause() -> None:
    stderr = "Error: Error downloading packages:\n  busybox-1.35.0-1.fc40.x86_64: Cannot download"
    msg = dnf.FLAVOURS[dnf.DNF4].explain_failure(DOWNLOAD_FAILED, stderr)
    assert msg == (
        "cannot download busybox-1.35.0-1.fc40.x86_64.rpm from repository fixture: "
        "Downloading successful, but checksum doesn't match"
    )
    first_only = DOWNLOAD_FAILED.replace("fixture ", "updates ").split(
        "[MIRROR] busybox-1.35.0-1.fc40.x86_64.rpm: Down"
    )[0]
    assert dnf.FLAVOURS[dnf.DNF4].explain_failure(first_only, stderr) == (
        "cannot download busybox-1.35.0-1.fc40.x86_64.rpm from repository updates: Status code: "
        "503 for http://127.0.0.1:8/Packages/busybox-1.35.0-1.fc40.x86_64.rpm (IP: 127.0.0.1)"
    )


DNF5_DOWNLOAD_FAILED = """\
Package                 Arch   Version                 Repository      Size
Installing:
 busybox                x86_64 1.38.0-1.fc40           fixture      1.9 MiB

[1/1] busybox-0:1.38.0-1.fc40.x86_64    100% |   0.0   B/s |   0.0   B |  00m00s
>>> Status code: 503 for http://127.0.0.1:8/Packages/busybox-1.38.0-1.fc40.x86_64.rpm
"""


def test_explain_failure_of_a_dnf5_download() -> None:
    stderr = (
        "Failed to download packages\nLibrepo error: Cannot download "
        "Packages/busybox-1.38.0-1.fc40.x86_64.rpm: All mirrors were tried"
    )
    flavour = dnf.FLAVOURS[dnf.DNF5]
    assert flavour.explain_failure(DNF5_DOWNLOAD_FAILED, stderr) == (
        "cannot download busybox-1.38.0-1.fc40.x86_64.rpm from repository fixture: "
        "Status code: 503 for http://127.0.0.1:8/Packages/busybox-1.38.0-1.fc40.x86_64.rpm"
    )
    table_only = DNF5_DOWNLOAD_FAILED.split("[1/1]")[0]
    assert flavour.explain_failure(table_only, stderr) == (
        "cannot download busybox-1.38.0-1.fc40.x86_64.rpm from repository fixture: "
        "All mirrors were tried"
    )
