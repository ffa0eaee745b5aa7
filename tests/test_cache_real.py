"""The shared cache's metadata snapshot with the real dnf: made once, final, read by every build
without a byte of it being written again."""

from __future__ import annotations

import hashlib
import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import dnf_command, dnf_flavour

from buildahpy.api.recipe import load_file
from buildahpy.fleet import jobs
from buildahpy.host import cache, dnf, workdir
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options, make_plan

pytestmark = pytest.mark.integration

HOST = HostRelease("debian", "12", ())
RECIPE = """
from buildahpy import recipe

@recipe("localhost/snapshot-bash")
def snapshot_bash(image):
    image.install("bash")
"""


def files_of(tree: Path) -> dict[str, tuple[int, str]]:
    """Each regular file under ``tree``: (inode, sha256)."""
    found = {}
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(tree))] = (path.stat().st_ino, digest)
    return found


def test_a_build_resolves_from_the_snapshot_without_rewriting_any_of_it(
    fixture_repo: Path, tmp_path: Path
) -> None:
    """libsolv adds the file provides that packages' file requirements need (the fixture's
    scriptlets need /bin/sh) on the first resolve and writes the .solv file again: the snapshot
    is finished with one, so a build's copy stays hard links to it (at Fedora's size that write
    costs ~1.3 s per build)."""
    (tmp_path / "r.py").write_text(RECIPE)
    (recipe,) = load_file(tmp_path / "r.py")
    options = Options(repo_files=(fixture_repo,), releasever="40", dnf_command=dnf_command())
    settings = jobs.Settings(cache_dir=tmp_path / "cache")
    preparer = jobs.Preparer(options, HOST, dnf_flavour(), settings, {})
    revisions = preparer.revisions("40", preparer.repo_files(recipe))
    snapshot = preparer.snapshot(recipe, "40", revisions)
    assert snapshot is not None
    solv = [path for path in snapshot.meta.rglob("*.solv*") if path.is_file()]
    assert solv, sorted(snapshot.meta.rglob("*"))
    made = files_of(snapshot.meta)

    work = cache.open_build_cache(snapshot, "buildahpy-snapshot-test")
    with ExitStack() as stack:
        plan = make_plan(
            recipe,
            options,
            host=HOST,
            dnf_flavour=dnf_flavour(),
            workdir=str(workdir.make(stack)),
            cachedir=str(work),
        )
        env = workdir.fill(plan, sysusers_helper="")
        root = tmp_path / "root"
        root.mkdir()
        dnf.of(plan).prepare_makecache_root(root, work)  # dnf4: the installroot's link
        argv = dnf.install_argv(plan, str(root), ["bash"], justdb=True)
        dnf.run_transaction(plan, argv, env)

    assert (root / plan.rpmdb_path.lstrip("/")).is_dir()  # it did resolve and record bash
    linked = {name: os.stat(snapshot.meta / name).st_ino for name in made}
    used = {name: (work / name).stat().st_ino for name in made if (work / name).exists()}
    rewritten = sorted(
        name for name in used if used[name] != linked[name] and not name.endswith(".json")
    )
    assert rewritten == [], "the build's dnf wrote these snapshot files again"
    assert files_of(snapshot.meta) == made
