"""Package signatures: repositories with gpgcheck=1 are honoured.

Real builds sign copies of the fixture's busybox with throwaway keys (gpg + rpmsign) and publish
them in repositories that outrank the fixture (priority=10), so the recipe's busybox comes from the
signed repository while everything else still comes from the unsigned fixture (gpgcheck=0).
The pure tests feed dnf's real messages (captured from dnf 4.14 on this project's CI host) to
``explain_failure``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import Builder, dnf_flavour, fixture_nevra
from plans import planned
from rpmkit import make_repo

from buildahpy.host import dnf, features
from buildahpy.plan.plan import dnf_conf

RPMDB = "/usr/lib/sysimage/rpm"
SIGNATURE_TAGS = ("OPENPGP", "RSAHEADER", "DSAHEADER")
RECIPE = (
    "from buildahpy import recipe\n\n\n@recipe('localhost/signed')\n"
    "def signed(image):\n    image.install('busybox', 'setup')\n"
)


@attrs.frozen
class Key:
    uid: str
    fingerprint: str
    armored: Path

    def named_by(self, version: str) -> bool:
        """rpm names an imported key gpg-pubkey-VERSION-<creation time>: VERSION is the short
        key id up to rpm 4.20 and the whole fingerprint from rpm 6 on; either way its tail."""
        return len(version) >= 8 and self.fingerprint.lower().endswith(version)

    @property
    def long_id(self) -> str:
        return self.fingerprint[-16:].lower()


@attrs.frozen
class SignedRepos:
    """.repo files: busybox signed by A (trusts A), unsigned (trusts A), signed by A (trusts B),
    signed by A (names no key)."""

    key_a: Key
    key_b: Key
    trusted: Path
    unsigned: Path
    wrong_key: Path
    no_gpgkey: Path


def _gpg(gnupghome: Path, *args: str) -> str:
    return subprocess.run(
        ["gpg", "--batch", "--homedir", str(gnupghome), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _make_key(gnupghome: Path, name: str, outdir: Path) -> Key:
    uid = f"buildahpy test key {name} <{name.lower()}@test.invalid>"
    # rpm 4.18 verifies EdDSA signatures; the key is made in milliseconds
    _gpg(gnupghome, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = _gpg(gnupghome, "--with-colons", "--list-keys", uid)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    armored = outdir / f"RPM-GPG-KEY-{name}"
    armored.write_text(_gpg(gnupghome, "--armor", "--export", uid))
    return Key(uid, fingerprint, armored)


def _sign(rpm: Path, key: Key, gnupghome: Path, home: Path) -> None:
    gpg = shutil.which("gpg") or "gpg"
    subprocess.run(
        [
            "rpmsign",
            "--addsign",
            "--define",
            f"_gpg_name {key.uid}",
            "--define",
            f"_gpg_path {gnupghome}",
            # Debian's rpm calls /usr/bin/gpg2, which Debian no longer ships
            "--define",
            f"__gpg {gpg}",
            str(rpm),
        ],
        env=dict(os.environ, HOME=str(home), GNUPGHOME=str(gnupghome)),
        capture_output=True,
        check=True,
    )


def _repo_options(key: Key | None) -> str:
    gpgkey = f"gpgkey=file://{key.armored}\n" if key else ""
    return f"gpgcheck=1\npriority=10\n{gpgkey}"


@pytest.fixture(scope="module")
def signed_repos(
    fixture_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignedRepos]:
    base = tmp_path_factory.mktemp("signatures")
    gnupghome = base / "gnupg"
    gnupghome.mkdir(mode=0o700)
    try:
        key_a = _make_key(gnupghome, "A", base)
        key_b = _make_key(gnupghome, "B", base)
        (unsigned,) = (fixture_repo.parent / "Packages").glob("busybox-*.rpm")
        signed = base / "signed" / unsigned.name
        signed.parent.mkdir()
        shutil.copy2(unsigned, signed)
        _sign(signed, key_a, gnupghome, base)
    finally:  # the agent signing started would outlive the test run
        subprocess.run(
            ["gpgconf", "--homedir", str(gnupghome), "--kill", "all"],
            capture_output=True,
            check=False,
        )
    yield SignedRepos(
        key_a=key_a,
        key_b=key_b,
        trusted=make_repo(
            base / "trusted", [signed], repo_id="trusted", extra_options=_repo_options(key_a)
        ),
        unsigned=make_repo(
            base / "unsigned", [unsigned], repo_id="unsigned", extra_options=_repo_options(key_a)
        ),
        wrong_key=make_repo(
            base / "wrong", [signed], repo_id="wrongkey", extra_options=_repo_options(key_b)
        ),
        no_gpgkey=make_repo(
            base / "nokey", [signed], repo_id="nokey", extra_options=_repo_options(None)
        ),
    )


def host_key_state(home: Path) -> dict[str, list[str] | None]:
    """The gpg-pubkey entries of every rpmdb the host's rpm could use, and ~/.gnupg's files
    (None: nothing there)."""
    found: dict[str, list[str] | None] = {}
    for path in (Path.home() / ".rpmdb", Path("/var/lib/rpm"), Path(RPMDB)):
        if not any((path / name).exists() for name in ("rpmdb.sqlite", "Packages")):
            found[str(path)] = None
            continue
        out = subprocess.run(
            ["rpm", f"--dbpath={path}", "-qa", "gpg-pubkey*"],
            env=dict(os.environ, HOME=str(home)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found[str(path)] = sorted(out.split())
    gnupg = Path.home() / ".gnupg"
    found[str(gnupg)] = sorted(p.name for p in gnupg.iterdir()) if gnupg.is_dir() else None
    return found


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def image_query(builder: Builder, root: Path, *args: str) -> str:
    return subprocess.run(
        ["rpm", f"--root={root}", f"--dbpath={RPMDB}", "-q", *args],
        env=dict(builder.env, HOME=str(builder.tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.integration
def test_signed_package_installs_and_its_key_lands_in_the_image_only(
    builder: Builder, signed_repos: SignedRepos, tmp_path: Path
) -> None:
    key = signed_repos.key_a
    tmpdir = tmp_path / "build-tmp"
    tmpdir.mkdir()
    builder.env = dict(builder.env, TMPDIR=str(tmpdir))
    host_before = host_key_state(tmp_path)
    result = builder.cli(builder.recipe("signed.py", RECIPE), "--repo-file", signed_repos.trusted)
    assert result.returncode == 0, result.stderr
    assert host_key_state(tmp_path) == host_before
    # dnf reads the key with gpgme in a temporary keyring under TMPDIR; none of it may stay
    assert list(tmpdir.iterdir()) == []
    assert processes_mentioning(str(tmpdir)) == []
    with builder.mounted("localhost/signed:latest") as root:
        keys = image_query(builder, root, "gpg-pubkey", "--qf", "%{VERSION} %{PACKAGER}\\n")
        (version, uid) = keys.rstrip("\n").split(" ", 1)
        assert key.named_by(version) and uid == key.uid, keys
        # the tags that hold the signature: v4's DSAHEADER/RSAHEADER, rpm 6's OPENPGP
        tags = [tag for tag in SIGNATURE_TAGS if features.rpm_has_tag(tag)]
        assert tags, "this rpm knows none of the signature tags"
        qf = "".join(f"[%{{{tag}:pgpsig}}\\n]" for tag in tags)
        signature = image_query(builder, root, "busybox", "--qf", qf)
        assert key.long_id in signature.lower(), signature
        assert {"busybox", "setup"} <= set(builder.packages(root))
        assert not os.path.lexists(root / "root/.gnupg")
        assert not os.path.lexists(root / "root/.rpmdb")


REJECTED = {
    "unsigned": (
        "unsigned",
        "package {busybox} is not signed and its repository has gpgcheck=1",
    ),
    "wrong-key": (
        "wrong_key",
        "package {busybox} is not signed by a key that its repository trusts"
        " (gpgkey=file://{key_b})",
    ),
    "no-gpgkey": (
        "no_gpgkey",
        "repository 'nokey' has gpgcheck=1 but no gpgkey=",
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_signature_problem_fails_the_build_and_keeps_the_previous_image(
    builder: Builder, signed_repos: SignedRepos, case: str
) -> None:
    assert builder.cli(builder.recipe("signed.py", RECIPE)).returncode == 0  # fixture only
    before = builder.image_id("localhost/signed:latest")
    images_before = builder.tool("buildah", "images", "--all", "--quiet").split()
    field, expected = REJECTED[case]
    if case == "wrong-key" and dnf_flavour() == dnf.DNF5:  # dnf5 names no key file
        expected = "package {busybox} is not signed by a key that repository 'wrongkey' trusts"
    repo_file = getattr(signed_repos, field)
    result = builder.cli(builder.recipe("signed.py", RECIPE), "--repo-file", repo_file)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1, result.stderr
    busybox = fixture_nevra(builder.repo_file, "busybox")
    assert expected.format(key_b=signed_repos.key_b.armored, busybox=busybox) in errors[0]
    assert builder.image_id("localhost/signed:latest") == before
    assert builder.tool("buildah", "images", "--all", "--quiet").split() == images_before


# What dnf 4.14 printed in the builds above (stdout, stderr), and dnf5's line for the same case
# as dnf's own behave tests spell it.
DNF4_UNSIGNED = "Package busybox-1.35.0-1.fc40.x86_64.rpm is not signed\nError: GPG check FAILED\n"
DNF4_WRONG_KEY = (
    'Importing GPG key 0x2F48F314:\n Userid     : "buildahpy test B <b@test.invalid>"\n'
    " From       : /tmp/k/keyB.asc\n"
    "Public key for busybox-1.35.0-1.fc40.x86_64.rpm is not installed. Failing package is: "
    "busybox-1.35.0-1.fc40.x86_64\n GPG Keys are configured as: file:///tmp/k/keyB.asc\n"
    "Error: GPG check FAILED\n"
)
DNF4_KEY_ALREADY_IN_IMAGE = (
    'The GPG keys listed for the "signed" repository are already installed but they are not '
    "correct for this package.\nCheck that the correct key URLs are configured for this "
    "repository.. Failing package is: busybox-1.35.0-1.fc40.x86_64\n"
    " GPG Keys are configured as: file:///tmp/k/keyB.asc\nError: GPG check FAILED\n"
)
DNF5_CHECK = (
    "Transaction failed: Signature verification failed.\n"
    'OpenPGP check for package "busybox-1.38.0-1.fc40.x86_64" (/c/busybox.rpm) from repo '
    '"{repo}" has failed: {reason}\n'
    "Warning: skipped OpenPGP checks for 1 package from repository: fixture\n"
)
DNF5_NO_KEY = (
    "Transaction failed: Signature verification failed.\n"
    'OpenPGP check for package "busybox-1.35.0-1.fc40.x86_64" (/c/busybox.rpm) from repo '
    '"signed" has failed: Public key is not installed.\n'
)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            DNF4_UNSIGNED,
            "package busybox-1.35.0-1.fc40.x86_64 is not signed and its repository has gpgcheck=1",
        ),
        (
            DNF4_WRONG_KEY,
            "package busybox-1.35.0-1.fc40.x86_64 is not signed by a key that its repository"
            " trusts (gpgkey=file:///tmp/k/keyB.asc)",
        ),
        (
            DNF4_KEY_ALREADY_IN_IMAGE,
            "package busybox-1.35.0-1.fc40.x86_64 is not signed by a key that repository"
            " 'signed' trusts (gpgkey=file:///tmp/k/keyB.asc)",
        ),
        (
            DNF5_NO_KEY,
            "signature check of package busybox-1.35.0-1.fc40.x86_64 from repository 'signed'"
            " failed: Public key is not installed.",
        ),
    ],
)
def test_explain_failure_names_the_package_and_the_key_problem(stderr: str, expected: str) -> None:
    flavour = dnf.DNF5 if "OpenPGP check" in stderr else dnf.DNF4  # who words it so
    assert dnf.FLAVOURS[flavour].explain_failure("Downloading Packages:\n", stderr) == expected


@pytest.mark.parametrize(
    ("repo", "reason", "expected"),
    [
        (
            "unsigned",
            "The package is not signed.",
            "package busybox-1.38.0-1.fc40.x86_64 is not signed and its repository has gpgcheck=1",
        ),
        (
            "wrongkey",
            "Import of the key didn't help, wrong key?",
            "package busybox-1.38.0-1.fc40.x86_64 is not signed by a key that repository"
            " 'wrongkey' trusts",
        ),
        (
            "nokey",
            "The repository does not have any OpenPGP keys configured.",
            "repository 'nokey' has gpgcheck=1 but no gpgkey=; add the URL of its signing key"
            " to the .repo file",
        ),
    ],
)
def test_dnf5_signature_failures_read_like_dnf4s(repo: str, reason: str, expected: str) -> None:
    """What dnf 5.4.6 printed in the builds above (Debian sid)."""
    stderr = DNF5_CHECK.format(repo=repo, reason=reason)
    assert dnf.FLAVOURS[dnf.DNF5].explain_failure("", stderr) == expected


def test_generated_dnf_options_never_turn_signature_checks_off(tmp_path: Path) -> None:
    for flavour in (dnf.DNF4, dnf.DNF5):
        repo_text = "[r]\nbaseurl=file:///srv\ngpgcheck=1\n"
        plan = planned(tmp_path, flavour, repo_text=repo_text, releasever="40")
        assert "gpgcheck=True" in dnf_conf(plan).splitlines()
        argv = dnf.install_argv(plan, "/mnt", ["busybox"]) + dnf.remove_argv(plan, "/mnt", ["x"])
        assert not [arg for arg in argv if "gpg" in arg.lower() or "signature" in arg.lower()]
