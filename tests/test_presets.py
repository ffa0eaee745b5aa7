"""Distribution presets as data: each family's repositories, URLs and keys, how a build chooses
between the host's repositories and a preset, and the errors for what has no preset or no key.
No process is started except the command line's own, in --dry-run and ``repos``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from buildahpy.api.recipe import Recipe
from buildahpy.errors import UsageError
from buildahpy.fleet import inputs
from buildahpy.plan import distributions
from buildahpy.plan.distro import HostRelease, Target
from buildahpy.plan.plan import Options, make_plan
from buildahpy.plan.repos import RepoFile, choose, enabled_repos, read_sections

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = HostRelease("debian", "12", ())
VARIABLES = {"basearch": "x86_64", "arch": "x86_64"}

# family, release, repository ids, each one's first URL (vars substituted), key file
PRESETS = [
    (
        "fedora",
        "40",
        ["fedora", "updates"],
        [
            "metalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-40&arch=x86_64",
            "metalink=https://mirrors.fedoraproject.org/metalink?repo=updates-released-f40"
            "&arch=x86_64",
        ],
        "fedora/RPM-GPG-KEY-fedora-40-primary",
    ),
    (
        "fedora",
        "rawhide",
        ["fedora"],
        ["metalink=https://mirrors.fedoraproject.org/metalink?repo=rawhide&arch=x86_64"],
        "fedora/RPM-GPG-KEY-fedora-rawhide-primary",
    ),
    *[
        (
            "centos-stream",
            n,
            ["baseos", "appstream"],
            [
                f"metalink=https://mirrors.centos.org/metalink?repo=centos-{r}-{n}-stream"
                "&arch=x86_64&protocol=https"
                for r in ("baseos", "appstream")
            ],
            key,
        )
        for n, key in (
            ("9", "centos/RPM-GPG-KEY-CentOS-Official"),
            ("10", "centos/RPM-GPG-KEY-CentOS-Official-SHA256"),
        )
    ],
    *[
        (
            "ubi",
            n,
            [f"ubi-{n}-baseos-rpms", f"ubi-{n}-appstream-rpms"],
            [
                f"baseurl=https://cdn-ubi.redhat.com/content/public/ubi/dist/ubi{n}/{n}/x86_64/{r}/os/"
                for r in ("baseos", "appstream")
            ],
            f"redhat/RPM-GPG-KEY-redhat{n}-release",
        )
        for n in ("8", "9", "10")
    ],
    *[
        (
            "almalinux",
            n,
            ["baseos", "appstream"],
            [
                f"mirrorlist=https://mirrors.almalinux.org/mirrorlist/{n}/{r}"
                for r in ("baseos", "appstream")
            ],
            "alma/RPM-GPG-KEY-AlmaLinux" + ("" if n == "8" else f"-{n}"),
        )
        for n in ("8", "9", "10")
    ],
    *[
        (
            "rocky",
            n,
            ["baseos", "appstream"],
            [
                f"mirrorlist=https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo={r}-{n}"
                for r in ("BaseOS", "AppStream")
            ],
            f"rocky/RPM-GPG-KEY-Rocky-{n}",
        )
        for n in ("8", "9")
    ],
]

# family, release, mirror, the URLs of its layout
MIRRORS = [
    (
        "fedora",
        "40",
        [
            "http://m.test/f/releases/40/Everything/x86_64/os/",
            "http://m.test/f/updates/40/Everything/x86_64/",
        ],
    ),
    ("fedora", "rawhide", ["http://m.test/f/development/rawhide/Everything/x86_64/os/"]),
    (
        "centos-stream",
        "9",
        [f"http://m.test/f/9-stream/{r}/x86_64/os/" for r in ("BaseOS", "AppStream")],
    ),
    ("ubi", "9", [f"http://m.test/f/ubi9/9/x86_64/{r}/os/" for r in ("baseos", "appstream")]),
    ("almalinux", "9", [f"http://m.test/f/9/{r}/x86_64/os/" for r in ("BaseOS", "AppStream")]),
    ("rocky", "8", [f"http://m.test/f/8/{r}/x86_64/os/" for r in ("BaseOS", "AppStream")]),
]


def key_dirs(tmp_path: Path, *keys: str) -> tuple[str, str]:
    """A distribution-gpg-keys tree and an /etc/pki/rpm-gpg holding ``keys`` (paths below the
    first)."""
    shared, pki = tmp_path / "distribution-gpg-keys", tmp_path / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    for key in keys:
        (shared / key).parent.mkdir(parents=True, exist_ok=True)
        (shared / key).write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    return str(shared), str(pki)


def rendered(family: str, release: str, mirror: str, keys: tuple[Path, ...]) -> RepoFile:
    found = distributions.family_of(family, release)
    return RepoFile("preset.repo", distributions.render(found, release, mirror, keys))


@pytest.mark.parametrize(("family", "release", "ids", "urls", "key"), PRESETS)
def test_every_preset_names_its_repositories_urls_and_keys(
    tmp_path: Path, family: str, release: str, ids: list[str], urls: list[str], key: str
) -> None:
    dirs = key_dirs(tmp_path, key)
    found = distributions.family_of(family, release)
    keys = distributions.resolve_keys(found, release, (), dirs)
    assert keys == (Path(dirs[0]) / key,)
    preset = rendered(family, release, "", keys)
    sections = read_sections(preset)
    assert list(sections) == ids
    repos = enabled_repos([preset], {**VARIABLES, "releasever": release})
    assert [f"{r.kind}={r.url}" for r in repos] == urls
    for section in sections.values():
        assert section["gpgcheck"] == "1"
        assert section["gpgkey"] == f"file://{dirs[0]}/{key}"


@pytest.mark.parametrize(("family", "release", "urls"), MIRRORS)
def test_a_mirror_is_read_in_the_distributions_own_layout(
    family: str, release: str, urls: list[str]
) -> None:
    preset = rendered(family, release, "http://m.test/f/", (Path("/k"),))
    repos = enabled_repos([preset], {**VARIABLES, "releasever": release})
    assert [(r.kind, r.url) for r in repos] == [("baseurl", url) for url in urls]


def test_a_key_on_an_rpm_host_is_found_under_its_own_name(tmp_path: Path) -> None:
    shared, pki = key_dirs(tmp_path)
    (Path(pki) / "RPM-GPG-KEY-rockyofficial").write_text("key")
    found = distributions.family_of("rocky", "8")
    assert distributions.resolve_keys(found, "8", (), (shared, pki)) == (
        Path(pki) / "RPM-GPG-KEY-rockyofficial",
    )


def test_a_missing_key_names_the_file_and_its_package(tmp_path: Path) -> None:
    found = distributions.family_of("almalinux", "9")
    with pytest.raises(UsageError) as caught:
        distributions.resolve_keys(found, "9", (), key_dirs(tmp_path))
    message = str(caught.value)
    assert "RPM-GPG-KEY-AlmaLinux-9" in message
    assert "distribution-gpg-keys" in message and "almalinux-release" in message
    assert "\n" not in message


def test_gpg_key_replaces_the_distributions_keys(tmp_path: Path) -> None:
    mine = tmp_path / "mirror.key"
    mine.write_text("key")
    found = distributions.family_of("fedora", "40")
    keys = distributions.resolve_keys(found, "40", (mine,), key_dirs(tmp_path))
    assert keys == (mine,)
    with pytest.raises(UsageError, match=r"--gpg-key .*nothing.key: no such file"):
        distributions.resolve_keys(found, "40", (tmp_path / "nothing.key",), ())


@pytest.mark.parametrize(
    ("family", "release", "known"),
    [("fedora", "7", "36 and later, rawhide"), ("rocky", "10", "8, 9"), ("ubi", "7", "8, 9, 10")],
)
def test_an_unknown_release_names_the_known_ones(family: str, release: str, known: str) -> None:
    with pytest.raises(UsageError, match=f"{family} {release}; known {family} releases: {known}"):
        distributions.family_of(family, release)


def test_a_family_without_presets_names_those_with_presets() -> None:
    with pytest.raises(UsageError) as caught:
        distributions.family_of("rhel", "9")
    assert "no repository preset for rhel" in str(caught.value)
    for name in ("fedora", "centos-stream", "ubi", "almalinux", "rocky"):
        assert name in str(caught.value)


def recipe(tmp_path: Path) -> Recipe:
    source = tmp_path / "r.py"
    source.write_text("# recipe\n")
    return Recipe(name="app", tag="localhost/app", func=lambda image: None, file=source, line=1)


def test_a_preset_plan_writes_its_repo_file_into_the_private_reposdir(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("key")
    options = Options(distro="fedora", releasever="40", mirror="http://m.test/", gpg_keys=(key,))
    plan = make_plan(recipe(tmp_path), options, host=DEBIAN, dnf_flavour="dnf4", workdir="/w")
    assert plan.reposdirs == ("/w/repos.d",)
    assert plan.repo_ids == ("fedora", "updates")
    assert plan.repos_source == "preset fedora 40"
    (written,) = plan.private_repos
    assert read_sections(written)["fedora"]["baseurl"].startswith("http://m.test/releases/")


def test_the_inputs_follow_the_mirror(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("key")
    entry = recipe(tmp_path)

    def digest(mirror: str) -> str | None:
        options = Options(distro="fedora", releasever="40", mirror=mirror, gpg_keys=(key,))
        return inputs.recipe_inputs(entry, options, DEBIAN, "dnf4")

    assert digest("http://a.test/") is not None
    assert digest("http://a.test/") != digest("http://b.test/")


def test_the_host_repositories_stay_on_a_host_of_the_same_release(tmp_path: Path) -> None:
    fedora40 = HostRelease("fedora", "40", ())
    target = Target("fedora", "40")
    assert choose((), lambda: target, fedora40).source == "host"
    assert not choose((), lambda: target, fedora40).private
    key = tmp_path / "k"
    key.write_text("key")
    other = choose((), lambda: Target("fedora", "41"), fedora40, mode="preset", gpg_keys=(key,))
    assert other.source == "preset fedora 41"
    given = tmp_path / "x.repo"
    given.write_text("[x]\nbaseurl=file:///x\n")
    assert choose((given,), lambda: target, DEBIAN, mode="preset").source == "--repo-file"
    with pytest.raises(UsageError, match="--mirror and --gpg-key apply to a preset"):
        choose((), lambda: target, fedora40, mode="host", mirror="http://m.test/")


def test_preset_mode_uses_the_preset_even_on_a_matching_host(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("key")
    fedora40 = HostRelease("fedora", "40", ())
    chosen = choose((), lambda: Target("fedora", "40"), fedora40, mode="preset", gpg_keys=(key,))
    assert chosen.source == "preset fedora 40" and chosen.private


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buildahpy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_repos_command_prints_the_preset(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("key")
    result = cli("repos", "fedora", "40", "--mirror", "http://m.test/", "--gpg-key", str(key))
    assert result.returncode == 0, result.stderr
    sections = read_sections(RepoFile("out", result.stdout))
    assert (
        sections["updates"]["baseurl"] == "http://m.test/updates/$releasever/Everything/$basearch/"
    )
    assert sections["updates"]["gpgkey"] == f"file://{key}"


def test_dry_run_with_the_hosts_keys_or_one_line_naming_the_missing_one(tmp_path: Path) -> None:
    entry = tmp_path / "r.py"
    entry.write_text(
        "from buildahpy import recipe\n\n@recipe('localhost/r')\ndef r(image):\n    pass\n"
    )
    result = cli(str(entry), "--dry-run", "--distro", "fedora", "--releasever", "40")
    key = Path(distributions.DISTRIBUTION_KEYS) / "fedora" / "RPM-GPG-KEY-fedora-40-primary"
    pki = Path(distributions.PKI_KEYS) / "RPM-GPG-KEY-fedora-40-primary"
    if key.is_file() or pki.is_file():
        assert result.returncode == 0, result.stderr
        assert "gpgkey file:///" in result.stdout
        assert "RPM-GPG-KEY-fedora-40-primary" in result.stdout
    else:  # Debian 12 has no distribution-gpg-keys
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert "RPM-GPG-KEY-fedora-40-primary" in result.stderr
        assert "install distribution-gpg-keys" in result.stderr


def test_dry_run_of_an_unknown_release_is_a_usage_error(tmp_path: Path) -> None:
    entry = tmp_path / "r.py"
    entry.write_text(
        "from buildahpy import recipe\n\n@recipe('localhost/r')\ndef r(image):\n    pass\n"
    )
    result = cli(str(entry), "--dry-run", "--distro", "fedora", "--releasever", "7")
    assert result.returncode == 2
    assert "known fedora releases: 36 and later, rawhide" in result.stderr
