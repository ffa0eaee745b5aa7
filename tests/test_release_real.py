"""Real builds: images say which distribution they are, as Fedora's own do.

glibc pulls in the release package (Requires(pre) basesystem -> setup -> system-release); an
image without glibc gets the target's release package unless the recipe opts out; the check
before commit fails an image whose /etc/os-release is missing or names another release.
"""

from __future__ import annotations

import pytest
from conftest import Builder

pytestmark = pytest.mark.integration

HEAD = "from buildahpy import recipe\n\n\n@recipe('localhost/rel'{options})\ndef rel(image):\n"
BUSYBOX = "    image.install('busybox')\n    image.config(entrypoint=['/usr/sbin/busybox', 'sh'])\n"
GLIBC = (
    "    image.install('glibc-minimal-langpack', 'coreutils-single')\n"
    "    image.config(entrypoint=['/usr/bin/ls'])\n"
)


def os_release(builder: Builder) -> tuple[dict[str, str], list[str], str]:
    with builder.mounted("localhost/rel") as root:
        link = root / "etc/os-release"
        target = str(link.readlink()) if link.is_symlink() else ""
        text = (root / "usr/lib/os-release").read_text() if link.exists() else ""
        packages = builder.packages(root)
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields, packages, target


def test_glibc_brings_the_release_chain(builder: Builder) -> None:
    result = builder.cli(builder.recipe("rel.py", HEAD.format(options="") + GLIBC))
    assert result.returncode == 0, result.stderr
    fields, packages, link = os_release(builder)
    assert (fields["ID"], fields["VERSION_ID"]) == ("fedora", "40")
    assert link == "../usr/lib/os-release"
    assert {"setup", "filesystem", "fedora-release-common"} <= set(packages)
    assert any(name.startswith("fedora-release-identity-") for name in packages)
    assert "release package added" not in result.stderr


def test_busybox_gets_the_container_identity(builder: Builder) -> None:
    result = builder.cli(builder.recipe("rel.py", HEAD.format(options="") + BUSYBOX))
    assert result.returncode == 0, result.stderr
    fields, packages, _ = os_release(builder)
    assert fields["VARIANT_ID"] == "container"
    assert "fedora-release-identity-container" in packages
    assert "release package added" in result.stderr
    assert "package=fedora-release-identity-container" in result.stderr
    with builder.mounted("localhost/rel") as root:
        for name in ("fedora-release", "redhat-release", "system-release"):
            assert (root / "etc" / name).read_text().startswith("Fedora release 40")


def test_opting_out_needs_the_check_skipped_too(builder: Builder) -> None:
    before = builder.image_id("localhost/rel")
    recipe = builder.recipe("rel.py", HEAD.format(options=", release_package=False") + BUSYBOX)
    result = builder.cli(recipe)
    assert result.returncode == 1
    assert "check os-release: the image has no /etc/os-release" in result.stderr
    assert builder.image_id("localhost/rel") == before
    options = ", release_package=False, checks={'os-release': 'a bare busybox'}"
    result = builder.cli(builder.recipe("rel.py", HEAD.format(options=options) + BUSYBOX))
    assert result.returncode == 0, result.stderr
    fields, packages, _ = os_release(builder)
    assert fields == {}
    assert not [name for name in packages if "release" in name]


def test_another_release_fails_the_check(builder: Builder) -> None:
    before = builder.image_id("localhost/rel")
    result = builder.cli(builder.recipe("rel.py", HEAD.format(options="") + GLIBC), releasever="41")
    assert result.returncode == 1
    err = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert err == [
        "buildahpy: rel: check os-release: /etc/os-release names fedora 40, "
        "not the target fedora 41"
    ]
    assert builder.image_id("localhost/rel") == before
