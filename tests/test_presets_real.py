"""A preset built for real: the fixture's packages, signed with a throwaway key, served over
HTTP on 127.0.0.1 in Fedora's mirror layout, and built with ``--distro fedora --releasever 40
--mirror URL --gpg-key KEY`` (no --repo-file): the build reads both of the preset's
repositories, checks every signature, and a package signed by another key fails it."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import Builder
from test_signatures import Key, _make_key, _sign

pytestmark = pytest.mark.integration

RECIPE = (
    "from buildahpy import recipe\n\n\n@recipe('localhost/preset')\n"
    "def preset(image):\n    image.install('busybox', 'setup')\n"
)
RELEASES = "releases/40/Everything/x86_64/os"
UPDATES = "updates/40/Everything/x86_64"


@attrs.frozen
class Mirror:
    url: str
    key: Key
    other_key: Key
    requested: list[str]


def _publish(root: Path, rpms: list[Path], key: Key, gnupghome: Path, home: Path) -> None:
    (root / "Packages").mkdir(parents=True)
    for rpm in rpms:
        copy = root / "Packages" / rpm.name
        shutil.copy2(rpm, copy)
        _sign(copy, key, gnupghome, home)
    subprocess.run(["createrepo_c", "--quiet", str(root)], check=True, capture_output=True)


def _serve(directory: Path, requested: list[str]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requested.append(self.path)

    handler = functools.partial(Handler, directory=str(directory))
    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


@pytest.fixture(scope="module")
def mirror(fixture_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """busybox in updates, everything else in the release, all signed with ``key``."""
    base = tmp_path_factory.mktemp("mirror")
    gnupghome = base / "gnupg"
    gnupghome.mkdir(mode=0o700)
    rpms = sorted((fixture_repo.parent / "Packages").glob("*.rpm"))
    update = [p for p in rpms if p.name.startswith("busybox-")]
    try:
        key, other = _make_key(gnupghome, "Mirror", base), _make_key(gnupghome, "Other", base)
        _publish(
            base / "www" / RELEASES, [p for p in rpms if p not in update], key, gnupghome, base
        )
        _publish(base / "www" / UPDATES, update, key, gnupghome, base)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(gnupghome), "--kill", "all"],
            capture_output=True,
            check=False,
        )
    requested: list[str] = []
    server = _serve(base / "www", requested)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Mirror(f"http://{host!s}:{port}/", key, other, requested)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _build(builder: Builder, mirror: Mirror, key: Key) -> subprocess.CompletedProcess[str]:
    return builder.cli(
        builder.recipe("preset.py", RECIPE),
        "--distro",
        "fedora",
        "--mirror",
        mirror.url,
        "--gpg-key",
        str(key.armored),
        "--no-cache",
        repo=False,
        releasever="40",
    )


def test_a_preset_builds_from_a_mirror_in_fedoras_layout(builder: Builder, mirror: Mirror) -> None:
    mirror.requested.clear()
    result = _build(builder, mirror, mirror.key)
    assert result.returncode == 0, result.stderr
    assert any(p.startswith(f"/{RELEASES}/repodata/") for p in mirror.requested)
    assert f"/{UPDATES}/Packages/" in " ".join(mirror.requested), mirror.requested
    run = builder.run_in("localhost/preset:latest", "busybox", "echo", "from the mirror")
    assert run.stdout == "from the mirror\n", run.stderr
    with builder.mounted("localhost/preset:latest") as root:
        keys = subprocess.run(
            ["rpm", f"--root={root}", "--dbpath=/usr/lib/sysimage/rpm", "-q", "gpg-pubkey"],
            env=dict(builder.env, HOME=str(builder.tmp_path)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    (name,) = keys.split()
    assert mirror.key.named_by(name.split("-")[2]), keys  # gpg-pubkey-VERSION-RELEASE


def test_a_preset_rejects_packages_signed_by_another_key(builder: Builder, mirror: Mirror) -> None:
    before = builder.image_id("localhost/preset:latest")
    result = _build(builder, mirror, mirror.other_key)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1, result.stderr
    # dnf 4.14 names the repository by its name=, dnf5 by its id, dnf 4.24 by its key file
    said = (
        "repository 'Fedora 40 updates' trusts",
        "repository 'updates' trusts",
        "its repository trusts (gpgkey=file://",
    )
    assert "is not signed by a key that" in errors[0], result.stderr
    assert any(words in errors[0] for words in said), result.stderr
    assert builder.image_id("localhost/preset:latest") == before
