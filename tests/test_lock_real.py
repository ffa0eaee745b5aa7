"""Lockfiles with real dnf, rpm and buildah: ``buildahpy lock`` then ``--locked`` builds against
a repository that moves on, loses a package, or serves a different file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Builder
from rpmkit import build_rpm, make_repo
from test_signatures import SignedRepos, signed_repos  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

TAG = "localhost/lock-app:latest"
RECIPE = f"""\
from buildahpy import recipe

@recipe({TAG!r})
def app(image):
    image.install({{specs}})
"""


def _pinned(tmp: Path, version: str) -> Path:
    return build_rpm(
        tmp / f"v{version}",
        "pinned",
        "",
        version=version,
        files={"/usr/share/pinned/version": f"{version}\n"},
    )


@pytest.fixture
def extra(tmp_path: Path) -> tuple[Path, Path]:
    """A repository with pinned-1.0 only: (its directory, its .repo file)."""
    repo_dir = tmp_path / "extra-repo"
    repo_file = make_repo(repo_dir, [_pinned(tmp_path, "1.0")])
    return repo_dir, repo_file


def _recipe(builder: Builder, specs: str = "'busybox', 'pinned'") -> Path:
    return builder.recipe("app.py", RECIPE.format(specs=specs))


def _lock(builder: Builder, recipe: Path, repo_file: Path) -> Path:
    result = builder.cli("lock", recipe, "--repo-file", repo_file)
    assert result.returncode == 0, result.stderr
    return recipe.with_name("app.lock.json")


def _locked_build(
    builder: Builder, recipe: Path, repo_file: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    return builder.cli("--locked", recipe, "--repo-file", repo_file, "--no-cache", *more)


def _failed_build(builder: Builder, recipe: Path, repo_file: Path, *more: str) -> str:
    """The one error line of a --locked build that must fail and leave the tag where it was
    (the builder fixture checks that no container or mount is left)."""
    before = builder.image_id(TAG)
    result = _locked_build(builder, recipe, repo_file, *more)
    assert result.returncode == 1, result.stderr
    assert builder.image_id(TAG) == before
    return _error_line(result)


def _republish(repo_dir: Path) -> None:
    subprocess.run(["createrepo_c", "--quiet", str(repo_dir)], check=True, capture_output=True)


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_locked_build_installs_the_locked_version_after_the_repo_moved_on(
    builder: Builder, extra: tuple[Path, Path], tmp_path: Path
) -> None:
    repo_dir, repo_file = extra
    recipe = _recipe(builder)
    lock = _lock(builder, recipe, repo_file)
    shutil.copy2(_pinned(tmp_path, "2.0"), repo_dir)
    _republish(repo_dir)
    result = _locked_build(builder, recipe, repo_file)
    assert result.returncode == 0, result.stderr
    with builder.mounted(TAG) as root:
        assert (root / "usr/share/pinned/version").read_text() == "1.0\n"
    # relocking follows the repository: the lock was what kept 1.0
    before = lock.read_text()
    _lock(builder, recipe, repo_file)
    packages = json.loads(lock.read_text())["recipes"]["app"]["arches"]
    versions = {p["version"] for found in packages.values() for p in found if p["name"] == "pinned"}
    assert versions == {"2.0"} and lock.read_text() != before


def test_relocking_unchanged_inputs_writes_the_same_bytes(
    builder: Builder, extra: tuple[Path, Path]
) -> None:
    _, repo_file = extra
    recipe = _recipe(builder)
    lock = _lock(builder, recipe, repo_file)
    first = lock.read_bytes()
    names = [p["name"] for p in json.loads(first)["recipes"]["app"]["arches"].popitem()[1]]
    assert "pinned" in names and "busybox" in names and names == sorted(names)
    _lock(builder, recipe, repo_file)
    assert lock.read_bytes() == first


def test_a_locked_package_gone_from_the_repository_fails_naming_it(
    builder: Builder, extra: tuple[Path, Path]
) -> None:
    repo_dir, repo_file = extra
    recipe = _recipe(builder)
    _lock(builder, recipe, repo_file)
    for rpm in repo_dir.glob("pinned-*.rpm"):
        rpm.unlink()
    _republish(repo_dir)
    line = _failed_build(builder, recipe, repo_file)
    assert "pinned-1.0-1.fc40.noarch" in line and "gone from repository 'extra'" in line
    assert str(repo_dir) in line


def test_a_tampered_package_file_fails_its_checksum_and_nothing_is_installed(
    builder: Builder, extra: tuple[Path, Path], tmp_path: Path
) -> None:
    repo_dir, repo_file = extra
    recipe = _recipe(builder)
    _lock(builder, recipe, repo_file)
    (rpm,) = repo_dir.glob("pinned-*.rpm")
    other = build_rpm(
        tmp_path / "evil", "pinned", "", version="1.0", files={"/usr/share/pinned/version": "x\n"}
    )
    shutil.copy2(other, rpm)  # same name, other bytes; the metadata is left as it was
    line = _failed_build(builder, recipe, repo_file)
    assert "pinned-1.0-1.fc40.noarch" in line and "sha256" in line
    assert "nothing was installed" in line


def test_a_stale_or_missing_lock_fails_and_says_to_relock(
    builder: Builder, extra: tuple[Path, Path]
) -> None:
    _, repo_file = extra
    recipe = _recipe(builder)
    line = _failed_build(builder, recipe, repo_file)
    assert "no lock file" in line and f"run buildahpy lock {recipe}" in line
    _lock(builder, recipe, repo_file)
    _recipe(builder, "'busybox', 'pinned', 'bash'")
    line = _failed_build(builder, recipe, repo_file)
    assert "recipe app" in line and "older than its specs or options" in line
    assert f"run buildahpy lock {recipe}" in line
    result = builder.cli(recipe, "--repo-file", repo_file, "--no-cache")  # not enforced
    assert result.returncode == 0, result.stderr
    assert "lock is stale" in result.stderr


def test_signatures_are_checked_against_the_locked_keys(
    builder: Builder,
    signed_repos: SignedRepos,  # noqa: F811 (the fixture imported above)
) -> None:
    recipe = builder.recipe("app.py", RECIPE.format(specs="'busybox'"))
    lock = _lock(builder, recipe, signed_repos.trusted)
    document = json.loads(lock.read_text())
    assert [k["fingerprint"] for k in document["keys"]] == [signed_repos.key_a.fingerprint]
    (busybox,) = [
        p
        for found in document["recipes"]["app"]["arches"].values()
        for p in found
        if p["name"] == "busybox"
    ]
    assert busybox["repo"] == "trusted"
    result = _locked_build(builder, recipe, signed_repos.trusted)
    assert result.returncode == 0, result.stderr
    # the key file now holds another key: it is not imported, nothing is installed
    key_a = signed_repos.key_a.armored
    original = key_a.read_bytes()
    key_a.write_bytes(signed_repos.key_b.armored.read_bytes())
    try:
        line = _failed_build(builder, recipe, signed_repos.trusted, "--rebuild")
    finally:
        key_a.write_bytes(original)
    assert f"{key_a} is no longer the locked key {signed_repos.key_a.fingerprint}" in line


def test_a_package_its_repository_key_did_not_sign_is_not_locked(
    builder: Builder,
    signed_repos: SignedRepos,  # noqa: F811 (the fixture imported above)
) -> None:
    recipe = builder.recipe("app.py", RECIPE.format(specs="'busybox'"))
    result = builder.cli("lock", recipe, "--repo-file", signed_repos.wrong_key)
    assert result.returncode == 1
    assert "not signed by a key that its repository trusts" in _error_line(result)
    assert not recipe.with_name("app.lock.json").exists()
