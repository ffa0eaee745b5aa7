"""Locks per architecture for real: ``buildahpy lock`` of a two-arch recipe resolves each
architecture with dnf --forcearch (the aarch64 fixture packages made from Debian's arm64 ones),
``--locked`` builds each architecture from its own section, and a lock without a section for an
architecture the run builds is a usage error before anything is made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Builder
from test_multiarch_real import aarch64_repo  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

TAG = "localhost/lock-multi:latest"
RECIPE = """\
from buildahpy import recipe


@recipe({tag!r}, arches="x86_64,aarch64")
def multi(image):
    image.install("busybox", "glibc-minimal-langpack")
    image.config(entrypoint=["/usr/sbin/busybox", "sh"])
"""
ARCHES = ("x86_64", "aarch64")


def _rpmdb(builder: Builder, root: Path) -> list[tuple[str, int, str, str, str]]:
    """Every package of an image's rpmdb, as the lock names them."""
    out = subprocess.run(
        [
            "rpm",
            f"--root={root}",
            "--dbpath=/usr/lib/sysimage/rpm",
            "-qa",
            "--qf",
            "%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\\n",
        ],
        env=dict(builder.env, HOME=str(builder.tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = [line.split() for line in out.splitlines()]
    return sorted((n, int(e), v, r, a) for n, e, v, r, a in found if n != "gpg-pubkey")


def _section(packages: list[dict]) -> list[tuple[str, int, str, str, str]]:
    return sorted((p["name"], p["epoch"], p["version"], p["release"], p["arch"]) for p in packages)


def test_each_architecture_is_locked_and_built_from_its_own_section(
    builder: Builder,
    aarch64_repo: Path,  # noqa: F811
) -> None:
    recipe = builder.recipe("multi.py", RECIPE.format(tag=TAG))
    result = builder.cli("lock", recipe, "--repo-file", aarch64_repo)
    assert result.returncode == 0, result.stderr
    entry = json.loads(recipe.with_name("multi.lock.json").read_text())["recipes"]["multi"]
    assert sorted(entry["arches"]) == sorted(ARCHES)
    for arch in ARCHES:
        packages = entry["arches"][arch]
        names = {p["name"] for p in packages}
        assert {"busybox", "glibc-minimal-langpack"} <= names, names
        assert {p["arch"] for p in packages} <= {arch, "noarch"}, packages
        assert all(p["url"].endswith((f".{arch}.rpm", ".noarch.rpm")) for p in packages)
    result = builder.cli("--locked", recipe, "--repo-file", aarch64_repo, "--no-cache")
    assert result.returncode == 0, result.stderr
    for arch in ARCHES:
        with builder.mounted(f"{TAG}-{arch}") as root:
            assert _rpmdb(builder, root) == _section(entry["arches"][arch]), arch


def test_a_lock_without_an_architecture_the_run_builds_is_a_usage_error(
    builder: Builder,
    aarch64_repo: Path,  # noqa: F811
) -> None:
    tag = "localhost/lock-multi-missing:latest"  # a tag no other test makes
    recipe = builder.recipe("multi.py", RECIPE.format(tag=tag))
    result = builder.cli("lock", recipe, "--repo-file", aarch64_repo, "--arch", "x86_64")
    assert result.returncode == 0, result.stderr
    entry = json.loads(recipe.with_name("multi.lock.json").read_text())["recipes"]["multi"]
    assert sorted(entry["arches"]) == ["x86_64"]
    result = builder.cli("--locked", recipe, "--repo-file", aarch64_repo, "--no-cache")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]
    assert len(lines) == 1, result.stderr
    assert "recipe multi " in lines[0] and "no packages for aarch64" in lines[0], lines[0]
    assert builder.image_id(tag) is None and builder.image_id(f"{tag}-x86_64") is None


BASED = """\
from buildahpy import recipe


@recipe("localhost/lock-multi-base", arches="x86_64,aarch64")
def lock_base(image):
    image.install("busybox", "glibc-minimal-langpack")


@recipe("localhost/lock-multi-app", arches="x86_64,aarch64", base=lock_base)
def lock_app(image):
    image.install("arch-probe")
"""


def test_a_multi_arch_recipe_on_a_base_pins_each_architectures_base(
    builder: Builder,
    aarch64_repo: Path,  # noqa: F811
) -> None:
    recipe = builder.recipe("based.py", BASED)
    lock = recipe.with_name("based.lock.json")
    for step in (  # the base first (a lock pins it), then built --locked, which changes its id
        ("--only", "lock_base"),
        ("lock",),
        ("--locked", "--only", "lock_base"),
        ("lock",),
        ("--locked",),
    ):
        if step[0] == "lock":
            result = builder.cli("lock", recipe, "--repo-file", aarch64_repo)
        else:
            result = builder.cli(recipe, *step, "--repo-file", aarch64_repo, "--no-cache")
        assert result.returncode == 0, (step, result.stderr)
    entry = json.loads(lock.read_text())["recipes"]["lock_app"]
    bases = {a: builder.image_id(f"localhost/lock-multi-base:latest-{a}") for a in ARCHES}
    assert entry["bases"] == bases and len(set(bases.values())) == 2
    for arch in ARCHES:
        assert [p["name"] for p in entry["arches"][arch]] == ["arch-probe"]
        with builder.mounted(f"localhost/lock-multi-app:latest-{arch}") as root:
            found = _rpmdb(builder, root)
        with builder.mounted(f"localhost/lock-multi-base:latest-{arch}") as root:
            base = _rpmdb(builder, root)
        assert [p for p in found if p not in base] == _section(entry["arches"][arch])
