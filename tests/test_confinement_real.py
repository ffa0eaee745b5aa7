"""Confinement in real builds: links planted in the image never lead a write out of it.

Fixture packages (made here with rpmkit) ship symlinks that point at a sentinel directory on the
host: absolute, relative with enough '..' to climb out of any mountpoint, a symlinked parent
directory, and links in place of /etc/passwd and /etc/group. Recipes then write, copy, mkdir,
symlink and add users through them. After each build the sentinel is byte-for-byte unchanged
and what was written is found inside the image, where the link resolves when the image runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Builder
from proc_helpers import images, snapshot, storage_mounts
from rpmkit import build_rpm, make_repo

pytestmark = pytest.mark.integration

CLIMB = "../" * 24  # more than any mountpoint is deep: a host-side join would reach /


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory holding what an escaped write would change (under /tmp)."""
    path = tmp_path_factory.mktemp("host-sentinel")
    (path / "keep").write_text("host data\n")
    (path / "passwd").write_text("host-root:x:0:0::/root:/bin/sh\n")
    (path / "group").write_text("host-root:x:0:\n")
    (path / "sub").mkdir()
    (path / "sub" / "a").write_text("host a\n")
    (path / "dnf").mkdir()  # what the scrub deletes under /var/cache and /var/log
    (path / "dnf" / "repo.solv").write_bytes(b"host cache\n")
    (path / "dnf.log").write_text("host log\n")
    (path / "hawkey.log").write_text("host log\n")
    return path


@pytest.fixture(scope="module")
def planted_repo(
    tmp_path_factory: pytest.TempPathFactory, sentinel: Path, real_tools: None
) -> Path:
    work = tmp_path_factory.mktemp("planted")
    links = build_rpm(
        work,
        "plant-links",
        "",
        symlinks={
            "/etc/x": str(sentinel),
            "/usr/share/x": CLIMB + str(sentinel).lstrip("/"),
            "/srv": str(sentinel.parent),
            "/etc/passwd": str(sentinel / "passwd"),
            "/etc/group": CLIMB + str(sentinel / "group").lstrip("/"),
        },
    )
    # dnf creates /var/log and its dnf.log before the transaction; rpm replaces the file
    dnf_log = build_rpm(
        work, "plant-dnf-log", "", symlinks={"/var/log/dnf.log": str(sentinel / "dnf.log")}
    )
    return make_repo(work / "repo", [links, dnf_log], repo_id="planted")


def build(
    builder: Builder,
    planted_repo: Path,
    name: str,
    body: str,
    sentinel: Path,
    *args: str,
    options: str = "",
) -> subprocess.CompletedProcess[str]:
    path = builder.recipe(
        f"{name}.py",
        f"from buildahpy import recipe\n\nS = {str(sentinel)!r}\n\n"
        f"@recipe('localhost/{name.replace('_', '-')}'{options})\ndef {name}(image):\n{body}",
    )
    return builder.cli(path, "--repo-file", planted_repo, *args)


def inside(root: Path, sentinel: Path) -> Path:
    """Where the sentinel's path is inside the image (the absolute links resolve there)."""
    return root / str(sentinel).lstrip("/")


LINKS = "    image.install('plant-links')\n    image.mkdir(S)\n"
SUCCEEDING = {
    "write_absolute": ("    image.write_file('/etc/x/keep', 'image data')\n", "keep", "image data"),
    "write_relative": (
        "    image.write_file('/usr/share/x/keep', 'image data')\n",
        "keep",
        "image data",
    ),
    "write_parent": (
        "    image.write_file('/srv/' + S.rsplit('/', 1)[1] + '/keep', 'image data')\n",
        "keep",
        "image data",
    ),
    "mkdir": ("    image.mkdir('/usr/share/x/sub/deeper', 0o700)\n", "sub/deeper", None),
    "symlink": ("    image.symlink('/', '/etc/x/keep')\n", "keep", "-> /"),
    "copy": (
        "    image.copy(SOURCE, '/srv/' + S.rsplit('/', 1)[1] + '/sub')\n",
        "sub/a",
        "copied a",
    ),
    "add_user": (
        "    image.add_group('web', 990)\n    image.add_user('web', 990, 990)\n",
        "passwd",
        "web:x:990:990::/:/sbin/nologin",
    ),
}


@pytest.mark.parametrize("case", sorted(SUCCEEDING))
def test_edits_through_planted_links_land_inside_the_image(
    builder: Builder, planted_repo: Path, sentinel: Path, case: str
) -> None:
    body, where, expected = SUCCEEDING[case]
    source = builder.tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    (source / "a").write_text("copied a")
    (source / "nested" / "b").write_text("copied b")
    (source / "escape").symlink_to("/etc/shadow")  # copied as a link, never followed
    before = snapshot(sentinel)
    recipe_body = LINKS + body.replace("SOURCE", repr(str(source)))

    result = build(builder, planted_repo, f"confine_{case}", recipe_body, sentinel)

    assert result.returncode == 0, result.stderr
    assert snapshot(sentinel) == before
    with builder.mounted(f"localhost/confine-{case.replace('_', '-')}") as root:
        target = inside(root, sentinel) / where
        assert os.readlink(root / "etc/x") == str(sentinel)  # the planted links are intact
        if expected is None:
            assert target.is_dir() and (target.stat().st_mode & 0o777) == 0o700
        elif expected.startswith("-> "):
            assert os.readlink(target) == expected[3:]
        else:
            assert expected in target.read_text()
        if case == "add_user":
            assert "web:x:990:" in (inside(root, sentinel) / "group").read_text()
        if case == "copy":
            assert (target.parent / "nested" / "b").read_text() == "copied b"
            assert os.readlink(target.parent / "escape") == "/etc/shadow"


FAILING = {
    # the link's target does not exist inside the image: the write fails there, not on the host
    "missing_target": (
        "    image.install('plant-links')\n    image.write_file('/etc/x/keep', 'image data')\n",
        "cannot write /etc/x/keep in the image: No such file or directory",
    ),
    "dotdot_write": (
        "    image.write_file('/etc/../../../..' + S + '/keep', 'x')\n",
        "image path '/etc/../../../..{S}/keep' must not contain '..' or NUL",
    ),
    "dotdot_mkdir": (
        "    image.mkdir('/usr/../..' + S + '/new')\n",
        "image path '/usr/../..{S}/new' must not contain '..' or NUL",
    ),
    "dotdot_symlink": (
        "    image.symlink('/', '/srv/../..' + S + '/link')\n",
        "image path '/srv/../..{S}/link' must not contain '..' or NUL",
    ),
    "dotdot_copy": (
        "    image.copy('/etc/hostname', '/etc/x/../..' + S + '/keep')\n",
        "image path '/etc/x/../..{S}/keep' must not contain '..' or NUL",
    ),
    # a package replaced dnf's own log with a link out: the host's dnf would append to it
    "dnf_through_planted_log": (
        "    image.install('plant-dnf-log')\n    image.write_file('/a', 'a')\n"
        "    image.install('plant-links')\n",
        "the image's /var/log/dnf.log leads out of the image (to {S}/dnf.log on the host); "
        "the host's dnf would write through it, so it is not run",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_edits_that_would_leave_the_image_fail_with_a_clear_error(
    builder: Builder, planted_repo: Path, sentinel: Path, case: str
) -> None:
    body, message = FAILING[case]
    before, images_before = snapshot(sentinel), images(builder)
    mounts_before = storage_mounts(builder.env)

    result = build(builder, planted_repo, f"confine_{case}", body, sentinel)

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]
    assert len(errors) == 1, result.stderr
    line = rf"^buildahpy: confine_{case}: \S+confine_{case}\.py(:\d+)?: "
    assert re.match(line, errors[0]), errors[0]
    assert errors[0].endswith(message.replace("{S}", str(sentinel))), errors[0]
    assert snapshot(sentinel) == before
    assert images(builder) == images_before
    assert storage_mounts(builder.env) == mounts_before


def test_scrub_over_var_cache_and_var_log_linked_to_the_host(
    builder: Builder, planted_repo: Path, sentinel: Path
) -> None:
    """/var/cache and /var/log are links to the host directory; the scrub deletes dnf's caches
    and logs under them. A package cannot plant these two (dnf makes both directories before
    its transaction), so the recipe does, in an image dnf never touches (no release package,
    and without the shared download cache, whose link lives in /var/cache)."""
    body = (
        "    image.mkdir(S + '/dnf')\n"
        "    image.write_file(S + '/dnf/repo.solv', 'image cache')\n"
        "    image.write_file(S + '/dnf.log', 'image log')\n"
        "    image.write_file(S + '/hawkey.log', 'image log')\n"
        "    image.mkdir('/var')\n"
        "    image.symlink(S, '/var/cache')\n"
        f"    image.symlink({CLIMB!r} + S.lstrip('/'), '/var/log')\n"
    )
    before = snapshot(sentinel)

    result = build(
        builder,
        planted_repo,
        "confine_scrub",
        body,
        sentinel,
        "--no-cache",
        options=", release_package=False, checks={'os-release': 'an image of links only'}",
    )

    assert result.returncode == 0, result.stderr
    assert snapshot(sentinel) == before
    with builder.mounted("localhost/confine-scrub:latest") as root:
        assert os.readlink(root / "var/cache") == str(sentinel)
        # the scrub ran, through the links, inside the image
        for gone in ("dnf", "dnf.log", "hawkey.log"):
            assert not os.path.lexists(inside(root, sentinel) / gone), gone
