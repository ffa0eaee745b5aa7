"""--output and --push for real: a fixture image written as an OCI layout and archives (read
back with skopeo), pushed to Debian's docker-registry on a free 127.0.0.1 port (with and
without htpasswd auth), its digest compared with what the registry serves, pulled back into a
fresh storage and run; an unreachable registry and a bad path are one line each, exit 1, the
local image kept."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Builder, unavailable

pytestmark = pytest.mark.integration

RECIPE = (
    "from buildahpy import recipe\n\n\n@recipe('localhost/sent')\n"
    "def sent(image):\n    image.install('busybox', 'setup')\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_registry(root: Path, htpasswd: Path | None = None) -> Iterator[str]:
    if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
        unavailable("docker-registry and skopeo are needed (scripts/install-deps)")
    port = free_port()
    auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
    config = root / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = (root / "registry.log").open("w")
    server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"docker-registry did not start: {(root / 'registry.log').read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "registry").mkdir()
    yield from start_registry(tmp_path / "registry")


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[str]:
    if shutil.which("htpasswd") is None:
        unavailable("htpasswd is needed (apache2-utils)")
    root = tmp_path / "auth-registry"
    root.mkdir()
    subprocess.run(
        ["htpasswd", "-Bbc", str(root / "htpasswd"), "tester", "s3cret"],
        check=True,
        capture_output=True,
    )
    yield from start_registry(root, root / "htpasswd")


def skopeo_digest(builder: Builder, reference: str, *args: str) -> str:
    out = builder.tool("skopeo", "inspect", *args, reference)
    return str(json.loads(out)["Digest"])


def fresh_storage(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    base = tmp_path / "fresh"
    base.mkdir()
    conf = base / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/graph"\nrunroot = "{base}/run"\n'
    )
    return dict(env, CONTAINERS_STORAGE_CONF=str(conf))


def test_outputs_are_written_and_read_back(builder: Builder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = builder.cli(
        builder.recipe("sent.py", RECIPE),
        "--output",
        f"oci:{out}/{{recipe}}-layout:v1",
        "--output",
        f"oci-archive:{out}/{{recipe}}.oci.tar",
        "--output",
        f"docker-archive:{out}/{{recipe}}.docker.tar",
    )
    assert result.returncode == 0, result.stderr
    layout = skopeo_digest(builder, f"oci:{out}/sent-layout:v1")
    assert layout.startswith("sha256:")
    assert skopeo_digest(builder, f"oci-archive:{out}/sent.oci.tar") == layout
    docker = json.loads(builder.tool("skopeo", "inspect", f"docker-archive:{out}/sent.docker.tar"))
    image_id = builder.image_id("localhost/sent:latest")
    assert image_id and docker["Layers"], docker
    assert f"oci:{out}/sent-layout:v1 {layout}" in result.stdout


def test_push_serves_the_reported_digest_and_the_image_runs_after_a_pull(
    builder: Builder, registry: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    argv = [builder.recipe("sent.py", RECIPE), "--push", f"{registry}/{{recipe}}:1"]
    result = builder.cli(*argv, "--tls-verify", "false", "--report", report)
    assert result.returncode == 0, result.stderr
    (image,) = json.loads(report.read_text())["images"]
    (pushed,) = image["pushed"]
    assert pushed["destination"] == f"docker://{registry}/sent:1"
    served = skopeo_digest(builder, f"docker://{registry}/sent:1", "--tls-verify=false")
    assert pushed["digest"] == served
    assert served in result.stdout
    fresh = Builder(fresh_storage(tmp_path, builder.env), builder.repo_file, tmp_path)
    fresh.tool("buildah", "pull", "--quiet", "--tls-verify=false", f"{registry}/sent:1")
    try:
        run = fresh.run_in(f"{registry}/sent:1", "busybox", "echo", "pulled back")
        assert run.stdout == "pulled back\n", run.stderr
    finally:
        fresh.tool("buildah", "rmi", "--all", "--force")
    # up to date: pushed again only with --push-all
    again = builder.cli(*argv, "--tls-verify", "false")
    assert again.returncode == 0 and "pushed" not in again.stdout, again.stdout
    every = builder.cli(*argv, "--tls-verify", "false", "--push-all")
    assert every.returncode == 0 and f"{served}" in every.stdout, every.stderr


def test_push_with_credentials(builder: Builder, auth_registry: str) -> None:
    argv = [builder.recipe("sent.py", RECIPE), "--push", f"{auth_registry}/sent:1"]
    refused = builder.cli(*argv, "--tls-verify", "false", "--rebuild")
    assert refused.returncode == 1
    assert f"cannot push localhost/sent:latest to docker://{auth_registry}/sent:1" in refused.stderr
    result = builder.cli(*argv, "--tls-verify", "false", "--creds", "tester:s3cret", "--push-all")
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    served = skopeo_digest(
        builder, f"docker://{auth_registry}/sent:1", "--tls-verify=false", "--creds=tester:s3cret"
    )
    assert served in result.stdout


def test_failed_destinations_are_one_line_each_and_the_image_stays(
    builder: Builder, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    result = builder.cli(
        builder.recipe("sent.py", RECIPE),
        "--rebuild",
        "--push",
        f"127.0.0.1:{port}/sent:1",
        "--output",
        f"oci-archive:{tmp_path}/no/such/dir/sent.tar",
        "--output",
        f"oci:{tmp_path}/fine:v1",
        "--tls-verify",
        "false",
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 2, result.stderr
    head = "cannot push localhost/sent:latest to"
    assert f"{head} docker://127.0.0.1:{port}/sent:1" in result.stderr
    assert f"{head} oci-archive:{tmp_path}/no/such/dir" in result.stderr
    assert builder.image_id("localhost/sent:latest") is not None
    assert skopeo_digest(builder, f"oci:{tmp_path}/fine:v1").startswith("sha256:")
