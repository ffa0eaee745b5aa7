"""The lock format (sorting, stability, reading back), its digest, primary.xml parsing, key
fingerprints and the command lines of --locked, as data (no process but gpg to make a key)."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest
from plans import sample_plan

from buildahpy.errors import BuildError
from buildahpy.host import dnf, lockfetch, repodata
from buildahpy.plan import lockfile, pgp
from buildahpy.plan.lockfile import Lock, LockedPackage, LockedRepo, RecipeLock


def _package(name: str, arch: str = "x86_64", version: str = "1.0") -> LockedPackage:
    url = f"file:///srv/repo/Packages/{name}-{version}-1.fc40.{arch}.rpm"
    return LockedPackage(name, arch, 0, version, "1.fc40", "fixture", url, 10, "ab" * 32)


def _lock(packages: list[LockedPackage], repos: list[LockedRepo]) -> Lock:
    keys = {"BB" * 20: "file:///k2", "AA" * 20: "file:///k1"}
    entry = RecipeLock("0" * 64, "scratch", {"x86_64": tuple(packages)})
    return Lock(tuple(repos), keys, {"zeta": entry, "alpha": entry})


REPOS = [
    LockedRepo("updates", "file:///u", "1" * 64, True, ("BB" * 20, "AA" * 20)),
    LockedRepo("fedora", "file:///f", "2" * 64, False, ()),
]
PACKAGES = [_package("zlib"), _package("bash"), _package("bash", "i686"), _package("glibc")]


def test_the_same_lock_in_any_order_is_the_same_bytes() -> None:
    first = lockfile.dumps(_lock(PACKAGES, REPOS))
    for seed in range(5):
        shuffled, repos = PACKAGES[:], REPOS[:]
        random.Random(seed).shuffle(shuffled)
        random.Random(seed).shuffle(repos)
        assert lockfile.dumps(_lock(shuffled, repos)) == first


def test_lists_are_sorted_and_the_file_reads_back(tmp_path: Path) -> None:
    text = lockfile.dumps(_lock(PACKAGES, REPOS))
    back = lockfile.loads(text, tmp_path / "x.lock.json")
    assert list(back.recipes) == ["alpha", "zeta"]
    found = back.recipes["alpha"].arches["x86_64"]
    assert [(p.name, p.arch) for p in found] == [
        ("bash", "i686"),
        ("bash", "x86_64"),
        ("glibc", "x86_64"),
        ("zlib", "x86_64"),
    ]
    assert [r.id for r in back.repos] == ["fedora", "updates"]
    assert back.repos[1].keys == ("AA" * 20, "BB" * 20)
    assert lockfile.dumps(back) == text
    assert text.endswith("}\n") and '"version": 1' in text


def test_a_file_of_another_format_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not a buildahpy lock file"):
        lockfile.loads('{"version": 99}', tmp_path / "x.lock.json")
    with pytest.raises(BuildError, match="run buildahpy lock"):
        lockfile.loads("[]", tmp_path / "x.lock.json")


def test_the_lock_sits_next_to_its_recipe_file() -> None:
    assert lockfile.lock_path(Path("recipes/nginx.py")) == Path("recipes/nginx.lock.json")


def test_the_digest_follows_specs_options_and_base_only() -> None:
    plan = sample_plan()
    digest = lockfile.inputs_digest(plan, ["bash"], "scratch", True)
    assert lockfile.inputs_digest(plan, ["bash"], "scratch", True) == digest
    assert lockfile.inputs_digest(plan, ["bash", "zlib"], "scratch", True) != digest
    assert lockfile.inputs_digest(plan, ["bash"], "localhost/base", True) != digest
    assert lockfile.inputs_digest(plan, ["bash"], "scratch", False) != digest
    assert (
        lockfile.inputs_digest(attrs.evolve(plan, weak_deps=True), ["bash"], "scratch", True)
        != digest
    )
    # what does not decide the package set does not make the lock stale
    assert (
        lockfile.inputs_digest(attrs.evolve(plan, tag="other"), ["bash"], "scratch", True) == digest
    )


PRIMARY = """<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" packages="2">
<package type="rpm"><name>bash</name><arch>x86_64</arch>
<version epoch="1" ver="5.2" rel="2.fc40"/><checksum type="sha256" pkgid="YES">{sha}</checksum>
<size package="1234" installed="9" archive="9"/><location href="Packages/b/bash.rpm"/></package>
<package type="rpm"><name>old</name><arch>noarch</arch>
<version epoch="0" ver="1" rel="1"/><checksum type="sha" pkgid="YES">abc</checksum>
<size package="1"/><location href="old.rpm"/></package>
</metadata>
"""


def test_primary_xml_gives_location_size_and_sha256() -> None:
    document = PRIMARY.format(sha="cd" * 32).encode()
    found = repodata.parse_primary(document, "https://mirror/f40/")
    assert found == {
        ("bash", 1, "5.2", "2.fc40", "x86_64"): repodata.Entry(
            "https://mirror/f40/Packages/b/bash.rpm", 1234, "cd" * 32
        )
    }


def test_a_gzipped_primary_is_read() -> None:
    data = gzip.compress(PRIMARY.format(sha="ef" * 32).encode())
    assert repodata.parse_primary(repodata._decompress("x-primary.xml.gz", data), "file:///r")


def test_fingerprints_are_what_gpg_says(tmp_path: Path) -> None:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    for algo in ("ed25519", "rsa2048"):
        uid = f"lock-test-{algo} <t@example.invalid>"
        subprocess.run(
            [*gpg, "--passphrase", "", "--quick-gen-key", uid, algo, "sign", "never"],
            check=True,
            capture_output=True,
        )
        armored = subprocess.run(
            [*gpg, "--armor", "--export", uid], check=True, capture_output=True
        ).stdout
        colons = subprocess.run(
            [*gpg, "--with-colons", "--fingerprint", uid],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        expected = next(
            line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:")
        )
        assert pgp.primary_fingerprints(armored) == [expected]
        assert pgp.primary_fingerprints(pgp.dearmor(armored)) == [expected]


@pytest.mark.parametrize(
    ("flavour", "no_repos"), [("dnf4", "--disablerepo=*"), ("dnf5", "--disable-repo=*")]
)
def test_locked_install_names_only_local_files_and_enables_no_repository(
    flavour: str, no_repos: str
) -> None:
    plan = sample_plan(flavour)
    argv = dnf.install_files_argv(plan, "/mnt", ["/w/locked/a.rpm", "/w/locked/b.rpm"])
    assert argv[-4:] == [no_repos, "install", "/w/locked/a.rpm", "/w/locked/b.rpm"]
    assert argv[:3] == ["dnf", "-y", "--installroot=/mnt"]
    assert dnf.install_argv(plan, "/mnt", ["a"])[:-2] == argv[:-4]


@pytest.mark.parametrize("bad", [["bash"], ["/w/a.rpm", "--setopt=x"], []])
def test_locked_install_refuses_anything_but_rpm_paths(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        dnf.install_files_argv(sample_plan(), "/mnt", bad)


def test_signature_command_lines_use_a_private_keyring() -> None:
    assert lockfetch.import_argv("/w/keyring", ["/w/k.asc"]) == [
        "rpmkeys",
        "--dbpath=/w/keyring",
        "--import",
        "/w/k.asc",
    ]
    assert lockfetch.checksig_argv("/w/keyring", ["/w/a.rpm"]) == [
        "rpmkeys",
        "--dbpath=/w/keyring",
        "--checksig",
        "/w/a.rpm",
    ]


def test_primary_metadata_compressed_with_zstd_is_read() -> None:
    """createrepo_c >= 1.0 writes primary.xml.zst (Debian sid, Fedora's own repositories)."""
    document = b"<metadata/>"
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]

        packed = zstd.compress(document)
    except ImportError:  # before Python 3.14
        import zstandard

        packed = zstandard.ZstdCompressor().compress(document)
    assert repodata._decompress("repodata/x-primary.xml.zst", packed) == document


def _arch_package(name: str, arch: str) -> LockedPackage:
    url = f"file:///srv/{arch}/Packages/{name}-1.0-1.fc40.{arch}.rpm"
    return LockedPackage(name, arch, 0, "1.0", "1.fc40", f"fixture-{arch}", url, 10, "cd" * 32)


def test_a_multi_arch_entry_keeps_each_architectures_packages_in_its_section(
    tmp_path: Path,
) -> None:
    sections = {
        "aarch64": (_arch_package("busybox", "aarch64"), _arch_package("tzdata", "noarch")),
        "x86_64": (_arch_package("busybox", "x86_64"), _arch_package("tzdata", "noarch")),
    }
    bases = {"x86_64": "1" * 64, "aarch64": "2" * 64}
    entry = RecipeLock("0" * 64, "1" * 64, sections, bases=bases)
    text = lockfile.dumps(Lock((), {}, {"multi": entry}))
    document = json.loads(text)["recipes"]["multi"]
    assert sorted(document["arches"]) == ["aarch64", "x86_64"]
    assert [p["arch"] for p in document["arches"]["aarch64"]] == ["aarch64", "noarch"]
    assert document["bases"] == bases
    back = lockfile.loads(text, tmp_path / "x.lock.json").recipes["multi"]
    assert back == entry
    assert (back.base_of("aarch64"), back.base_of("x86_64")) == ("2" * 64, "1" * 64)
    assert lockfile.dumps(Lock((), {}, {"multi": back})) == text


def test_a_single_arch_lock_is_written_as_before_and_has_no_bases() -> None:
    text = lockfile.dumps(_lock(PACKAGES, REPOS))
    entry = json.loads(text)["recipes"]["alpha"]
    assert sorted(entry) == ["arches", "base", "inputs"]
    assert lockfile.loads(text, Path("x")).recipes["alpha"].base_of("x86_64") == "scratch"


# written by buildahpy before locks had a section per architecture: still read, same bytes
OLDER = """\
{
  "keys": [],
  "recipes": {
    "app": {
      "arches": {
        "x86_64": [
          {
            "arch": "x86_64",
            "epoch": 0,
            "name": "busybox",
            "release": "1",
            "repo": "fixture",
            "sha256": "abababababababababababababababababababababababababababababababab",
            "size": 10,
            "url": "file:///srv/busybox-1.36-1.x86_64.rpm",
            "version": "1.36"
          }
        ]
      },
      "base": "scratch",
      "inputs": "0000000000000000000000000000000000000000000000000000000000000000"
    }
  },
  "repositories": [
    {
      "gpgcheck": false,
      "id": "fixture",
      "keys": [],
      "revision": "1111111111111111111111111111111111111111111111111111111111111111",
      "url": "file:///srv"
    }
  ],
  "version": 1
}
"""


def test_a_lock_written_before_per_arch_sections_reads_back_to_the_same_bytes() -> None:
    assert lockfile.dumps(lockfile.loads(OLDER, Path("app.lock.json"))) == OLDER


def test_one_id_of_two_architectures_urls_is_two_repository_entries_in_a_fixed_order() -> None:
    repos = [
        LockedRepo("os", "https://m/aarch64/os/", "1" * 64, False, ()),
        LockedRepo("os", "https://m/x86_64/os/", "2" * 64, False, ()),
    ]
    first = lockfile.dumps(Lock(tuple(repos), {}, {}))
    assert lockfile.dumps(Lock(tuple(reversed(repos)), {}, {})) == first
    assert [r["url"] for r in json.loads(first)["repositories"]] == [r.url for r in repos]


def test_a_lock_lacking_a_wanted_architecture_names_it() -> None:
    entry = RecipeLock("0" * 64, "scratch", {"x86_64": (_package("busybox"),)})
    lock = Lock((), {}, {"multi": entry})
    assert lockfile.missing_arch(lock, "multi", ["x86_64"]) is None
    assert lockfile.missing_arch(lock, "multi", ["x86_64", "aarch64"]) == "aarch64"
    assert lockfile.missing_arch(lock, "other", ["aarch64"]) is None  # no entry: said later
    assert lockfile.missing_arch(None, "multi", ["aarch64"]) is None
