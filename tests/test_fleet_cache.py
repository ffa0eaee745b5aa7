"""Up-to-date inputs and the shared cache as data: repository revisions, the inputs digest, the
per-build cachedir, harvesting into the pool, snapshots, and the dnf and buildah argv they add."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest
from plans import sample_plan

from buildahpy.api.recipe import load_file
from buildahpy.build import bases
from buildahpy.errors import BuildError
from buildahpy.fleet import inputs, jobs
from buildahpy.host import buildah, cache, dnf, repomd
from buildahpy.host.rootfs import RootFS
from buildahpy.plan import repos
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options, Plan

HOST = HostRelease("debian", "12", ())


def make_repo(tmp_path: Path, name: str, content: bytes = b"<repomd>1</repomd>") -> Path:
    (tmp_path / name / "repodata").mkdir(parents=True)
    (tmp_path / name / "repodata" / "repomd.xml").write_bytes(content)
    return tmp_path / name


# -- repositories and revisions ----------------------------------------------------------------


def test_enabled_repos_substitute_dnf_variables(tmp_path: Path) -> None:
    repo = tmp_path / "x.repo"
    repo.write_text(
        textwrap.dedent("""
        [main]
        gpgcheck=1
        [fedora]
        metalink=https://mirrors/metalink?repo=fedora-$releasever&arch=${basearch}
        baseurl=
        [updates]
        baseurl=http://a/$releasever/$contentdir/ http://b/
        [off]
        enabled=0
        baseurl=http://off/
        [listed]
        mirrorlist=file:///m/$unknownvar
    """)
    )
    found = repos.enabled_repos(
        [repo], {"releasever": "40", "basearch": "x86_64", "contentdir": "pub"}
    )
    assert [(r.id, r.kind, r.url) for r in found] == [
        ("fedora", "metalink", "https://mirrors/metalink?repo=fedora-40&arch=x86_64"),
        ("updates", "baseurl", "http://a/40/pub/"),
        ("listed", "mirrorlist", "file:///m/$unknownvar"),
    ]


def test_revision_is_the_sha256_of_repomd_for_baseurl_and_mirrorlist(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "r", b"<repomd>rev 7</repomd>")
    expected = hashlib.sha256(b"<repomd>rev 7</repomd>").hexdigest()
    assert repomd.revision(repos.Repo("r", "baseurl", f"file://{repo}/")) == expected
    mirrors = tmp_path / "mirrors.txt"
    mirrors.write_text(f"# comment\n\nfile://{repo}\nfile:///nowhere\n")
    assert repomd.revision(repos.Repo("r", "mirrorlist", f"file://{mirrors}")) == expected


METALINK = b"""<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:alternates>
    <mm0:alternate><verification><hash type="sha256">old</hash></verification></mm0:alternate>
   </mm0:alternates>
   <verification>
    <hash type="md5">m</hash>
    <hash type="sha256">current</hash>
   </verification>
  </file>
 </files>
</metalink>"""


def test_metalink_gives_the_current_repomd_digest_not_an_alternate(tmp_path: Path) -> None:
    assert repomd.metalink_repomd_sha256(METALINK) == "current"
    path = tmp_path / "metalink.xml"
    path.write_bytes(METALINK)
    assert repomd.revision(repos.Repo("f", "metalink", f"file://{path}")) == "current"


def test_unreadable_repositories_have_no_revision(tmp_path: Path) -> None:
    good = make_repo(tmp_path, "good")
    found = repomd.revisions(
        [
            repos.Repo("good", "baseurl", f"file://{good}"),
            repos.Repo("gone", "baseurl", f"file://{tmp_path}/gone"),
        ]
    )
    assert found["good"] and found["gone"] is None


# -- the inputs digest -----------------------------------------------------------------------


def recipe_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "r.py"
    path.write_text("from buildahpy import recipe\n\n" + textwrap.dedent(body))
    return path


def test_inputs_change_with_what_the_image_is_built_from(tmp_path: Path) -> None:
    config = tmp_path / "app.conf"
    config.write_text("v1")
    repo = tmp_path / "fixture.repo"
    repo.write_text("[fixture]\nbaseurl=file:///x\n")
    options = Options(repo_files=(repo,))
    path = recipe_file(
        tmp_path,
        f"""
        @recipe("localhost/app")
        def app(image):
            image.install("bash")
            image.copy({str(config)!r}, "/etc/app.conf")
        """,
    )
    (entry,) = load_file(path)
    static = inputs.recipe_inputs(entry, options, HOST, "dnf4")
    assert static == inputs.recipe_inputs(entry, options, HOST, "dnf4")
    digest = inputs.inputs_digest(static, "base1", {"fixture": "r1"})
    assert digest == inputs.inputs_digest(static, "base1", {"fixture": "r1"})
    assert digest != inputs.inputs_digest(static, "base2", {"fixture": "r1"})
    assert digest != inputs.inputs_digest(static, "base1", {"fixture": "r2"})
    assert inputs.inputs_digest(static, "base1", {"fixture": None}) is None
    assert static != inputs.recipe_inputs(entry, options, HOST, "dnf5")
    assert static != inputs.recipe_inputs(
        entry, Options(repo_files=(repo,), distro="rhel"), HOST, "dnf4"
    )
    config.write_text("v2")  # a host file the recipe copies in
    assert static != (changed := inputs.recipe_inputs(entry, options, HOST, "dnf4"))
    repo.write_text("[fixture]\nbaseurl=file:///y\n")  # the repository definitions
    assert changed != (changed := inputs.recipe_inputs(entry, options, HOST, "dnf4"))
    path.write_text(path.read_text() + "\n# a comment is an edit too\n")
    assert changed != inputs.recipe_inputs(entry, options, HOST, "dnf4")


def test_a_recipe_whose_dry_run_fails_has_unknown_inputs(tmp_path: Path) -> None:
    path = recipe_file(
        tmp_path,
        """
        @recipe("localhost/app")
        def app(image):
            version = image.query(["/bin/cat", "/etc/version"])  # empty in a dry run
            image.write_file("/v", version.split()[0])
        """,
    )
    (entry,) = load_file(path)
    assert inputs.recipe_inputs(entry, Options(repo_files=(path,)), HOST, "dnf4") is None


# -- the shared cache ---------------------------------------------------------------------------


def snapshot_with(tmp_path: Path) -> cache.Snapshot:
    root = tmp_path / "cache" / "dnf4"

    def fill(staging: Path) -> None:
        repo = staging / "fixture-abc"
        (repo / "repodata").mkdir(parents=True)
        (repo / "repodata" / "repomd.xml").write_text("repomd")
        (repo / "packages").mkdir()
        (repo / "packages" / "stray.rpm").write_text("makecache downloads none, but if it did")
        (staging / "fixture.solv").write_text("solv")
        (staging / "expired_repos.json").write_text("[]")

    return cache.make_snapshot(root, "k1", fill)


def test_a_snapshot_is_published_whole_and_found_again(tmp_path: Path) -> None:
    snapshot = snapshot_with(tmp_path)
    assert snapshot.meta == tmp_path / "cache" / "dnf4" / "meta" / "k1"
    assert (snapshot.meta / "fixture-abc" / "repodata" / "repomd.xml").read_text() == "repomd"
    assert not (snapshot.meta / "fixture-abc" / "packages").exists()
    assert list((snapshot.root / "tmp").iterdir()) == []
    assert cache.find_snapshot(snapshot.root, "k1") == snapshot
    assert cache.find_snapshot(snapshot.root, "k2") is None
    # a second run publishing the same key keeps the first one's
    again = cache.make_snapshot(snapshot.root, "k1", lambda staging: None)
    assert (again.meta / "fixture.solv").read_text() == "solv"


def test_old_unused_snapshots_are_pruned(tmp_path: Path) -> None:
    snapshot = snapshot_with(tmp_path)
    old = time.time() - 8 * 24 * 3600
    os.utime(snapshot.meta, (old, old))
    cache.make_snapshot(snapshot.root, "k2", lambda staging: None)
    assert sorted(p.name for p in (snapshot.root / "meta").iterdir()) == ["k2"]


def test_a_build_cache_links_what_dnf_never_rewrites_and_copies_the_rest(tmp_path: Path) -> None:
    snapshot = snapshot_with(tmp_path)
    pooled = snapshot.pool / "fixture-abc" / "packages" / "bash-5-1.x86_64.rpm"
    pooled.parent.mkdir(parents=True)
    pooled.write_bytes(b"bash rpm")
    work = cache.open_build_cache(snapshot, "buildahpy-app-123")
    assert work.parent == snapshot.root / "work" and work.name == "buildahpy-app-123"
    repomd = work / "fixture-abc" / "repodata" / "repomd.xml"
    assert repomd.samefile(snapshot.meta / "fixture-abc" / "repodata" / "repomd.xml")
    assert (work / "fixture.solv").samefile(snapshot.meta / "fixture.solv")
    assert (work / "fixture-abc" / "packages" / "bash-5-1.x86_64.rpm").samefile(pooled)
    copied = work / "expired_repos.json"
    assert copied.read_text() == "[]" and not copied.samefile(snapshot.meta / "expired_repos.json")
    cache.close_build_cache(work)
    assert not work.exists() and pooled.exists() and repomd.parent.parent.parent == work


def test_harvest_adds_new_packages_once_and_never_replaces_a_file(tmp_path: Path) -> None:
    snapshot = snapshot_with(tmp_path)
    works = [cache.open_build_cache(snapshot, f"b{i}") for i in range(4)]
    for index, work in enumerate(works):  # four builds downloaded the same package
        (work / "fixture-abc" / "packages").mkdir(exist_ok=True)
        (work / "fixture-abc" / "packages" / "zlib-1-1.x86_64.rpm").write_text(f"zlib {index}")
    added: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda w=w: added.append(cache.harvest(snapshot, w))) for w in works
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(len, added)) == [0, 0, 0, 1]
    pooled = snapshot.pool / "fixture-abc" / "packages" / "zlib-1-1.x86_64.rpm"
    winner = pooled.read_text()
    for work in works:
        cache.close_build_cache(work)
    assert pooled.read_text() == winner  # removing the builds' dirs removed no pooled file
    next_build = cache.open_build_cache(snapshot, "b5")
    assert cache.harvest(snapshot, next_build) == []  # what came from the pool is not re-added


def test_cache_root_prefers_the_option_then_the_environment(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    assert cache.cache_root(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.setenv("BUILDAHPY_CACHE_DIR", str(tmp_path / "env"))
    assert cache.cache_root(None) == tmp_path / "env"


def test_snapshot_key_changes_with_each_repository_revision() -> None:
    key = cache.snapshot_key("dnf4", "40", {"repo:fedora": "a", "repo:updates": "b"})
    assert key == cache.snapshot_key("dnf4", "40", {"repo:updates": "b", "repo:fedora": "a"})
    assert key != cache.snapshot_key("dnf4", "40", {"repo:fedora": "a", "repo:updates": "c"})
    assert key != cache.snapshot_key("dnf5", "40", {"repo:fedora": "a", "repo:updates": "b"})
    assert key != cache.snapshot_key("dnf4", "41", {"repo:fedora": "a", "repo:updates": "b"})


# -- argv ------------------------------------------------------------------------------------


def plan(flavour: str, cachedir: str = "") -> Plan:
    return sample_plan(flavour, cachedir=cachedir)


def test_without_a_shared_cache_dnf_keeps_nothing() -> None:
    for flavour in (dnf.DNF4, dnf.DNF5):
        argv = dnf.install_argv(plan(flavour), "/root", ["bash"])
        assert "--setopt=keepcache=False" in argv
        assert not [a for a in argv if "cachedir" in a or "metadata_expire" in a]


def test_dnf4_reads_the_snapshot_through_the_installroot_link() -> None:
    argv = dnf.install_argv(plan(dnf.DNF4, "/c/dnf4/work/b1"), "/root", ["bash"])
    assert "--setopt=keepcache=True" in argv and "--setopt=metadata_expire=-1" in argv
    assert not [a for a in argv if "cachedir" in a]  # see cache_argv: dnf4 gets a link instead
    assert argv[-2:] == ["install", "bash"]


def test_dnf5_gets_the_build_cachedir_as_an_option() -> None:
    argv = dnf.install_argv(plan(dnf.DNF5, "/c/dnf5/work/b1"), "/root", ["bash"])
    assert "--setopt=cachedir=/c/dnf5/work/b1" in argv
    assert "--setopt=system_cachedir=/c/dnf5/work/b1" in argv
    assert "--setopt=keepcache=True" in argv and "--setopt=metadata_expire=-1" in argv


def test_makecache_checks_every_repository_whatever_its_age_and_finishes_the_solv_files() -> None:
    """One dnf run fetches and queries a file's providers (libsolv then writes the file provides
    into the .solv files, once, before the snapshot is frozen): never a bare makecache."""
    for flavour in (dnf.DNF4, dnf.DNF5):
        argv = dnf.makecache_argv(plan(flavour, "/c/staging"), "/scratch")
        assert argv[-3:] == ["--setopt=metadata_expire=0", "repoquery", "--whatprovides=/bin/sh"]
        assert "makecache" not in argv
        assert [a for a in argv if a.startswith("--setopt=metadata_expire")] == [
            "--setopt=metadata_expire=0"
        ]
        assert "--installroot=/scratch" in argv


def test_a_build_on_a_base_starts_from_it() -> None:
    assert buildah.from_argv("c1", "0123abcd") == [
        "buildah", "from", "--name", "c1", "--pull=never", "0123abcd",
    ]  # fmt: skip
    assert buildah.from_argv("c1", "scratch")[-1] == "scratch"


@pytest.mark.parametrize("base", [None, "localhost/base:latest"])
def test_the_plan_starts_from_the_recipes_base_unless_pinned(
    tmp_path: Path, base: str | None
) -> None:
    from buildahpy.plan.plan import make_plan

    body = f'@recipe("localhost/app", base={base!r})\ndef app(image):\n    pass\n'
    (entry,) = load_file(recipe_file(tmp_path, body))
    repo = tmp_path / "f.repo"
    repo.write_text("[f]\nbaseurl=file:///f\n")
    options = Options(repo_files=(repo,), releasever="40")
    made = make_plan(entry, options, host=HOST, dnf_flavour="dnf4", workdir="/w")
    assert made.base_image == (base or "scratch")
    pinned = make_plan(
        entry, options, host=HOST, dnf_flavour="dnf4", workdir="/w", base_image="id1"
    )
    assert pinned.base_image == "id1"


# -- bases ---------------------------------------------------------------------------------------


def rootfs_with(tmp_path: Path, *paths: str) -> RootFS:
    for path in paths:
        (tmp_path / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/")).write_bytes(b"db")
    return RootFS(tmp_path)


def test_a_base_with_its_rpmdb_where_the_target_keeps_it_is_fine(tmp_path: Path) -> None:
    with rootfs_with(tmp_path, "/usr/lib/sysimage/rpm/rpmdb.sqlite") as root:
        (tmp_path / "var/lib").mkdir(parents=True)
        (tmp_path / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
        bases.check_rpmdb(root, "/usr/lib/sysimage/rpm", "localhost/base:latest")
        bases.check_rpmdb(root, "/var/lib/rpm", "localhost/base:latest")  # through the link


def test_a_base_without_an_rpmdb_is_fine(tmp_path: Path) -> None:
    with rootfs_with(tmp_path, "/etc/os-release") as root:
        bases.check_rpmdb(root, "/usr/lib/sysimage/rpm", "localhost/static:latest")


def test_a_base_with_its_rpmdb_elsewhere_is_an_error_naming_both(tmp_path: Path) -> None:
    expected = r"base image ubi8 keeps its rpmdb in /var/lib/rpm, "
    with (
        rootfs_with(tmp_path, "/var/lib/rpm/Packages") as root,
        pytest.raises(BuildError, match=expected),
    ):
        bases.check_rpmdb(root, "/usr/lib/sysimage/rpm", "ubi8")


def test_a_dry_run_of_an_image_on_a_base_starts_from_the_base(tmp_path: Path) -> None:
    from buildahpy.__main__ import parse_args, run

    path = recipe_file(
        tmp_path,
        '@recipe("localhost/base")\ndef base(image):\n    image.install("bash")\n\n'
        '@recipe("localhost/app", base=base)\ndef app(image):\n    image.install("busybox")\n',
    )
    repo = tmp_path / "f.repo"
    repo.write_text("[f]\nbaseurl=file:///f\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        argv = [str(path), "--dry-run", "--only", "app", "--repo-file", str(repo)]
        code = run(parse_args([*argv, "--releasever", "40"]))
    assert code == 0
    text = out.getvalue()
    assert text.index("recipe base ->") < text.index("recipe app ->")
    assert "--pull=never localhost/base:latest\n" in text
    assert "--pull=never scratch\n" in text


def test_inspecting_images_keeps_those_found_when_one_is_missing(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/argv"\n'
        """echo '[{"Id": "abc", "RepoTags": ["localhost/a:latest"], "Digest": "sha256:d","""
        """ "Size": 7, "Labels": {"io.buildahpy.packages": "x-1-1.noarch"}}]'\n"""
        'echo "Error: localhost/b:latest: image not known" >&2\n'
        "exit 125\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    found = jobs.index_images(buildah.inspect_images(["localhost/a:latest", "localhost/b:latest"]))
    assert (fake.parent / "argv").read_text().split() == [
        "image", "inspect", "localhost/a:latest", "localhost/b:latest",
    ]  # fmt: skip
    assert list(found) == ["localhost/a:latest"]
    assert found["localhost/a:latest"].packages == ("x-1-1.noarch",)
    assert buildah.inspect_images([]) == []
