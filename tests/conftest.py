"""Shared fixtures. Real-build tests run against a private container storage and the fixture
RPM repository that scripts/fixture_repo.py builds from this host's own Debian packages.

Outside CI a missing tool skips the integration tests; with CI=true (or
BUILDAHPY_REQUIRE_INTEGRATION=1) it fails them, so a green run always means they ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from buildahpy.host import buildah
from buildahpy.host.dnf import find_dnf

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_TOOLS = ("buildah", "podman", "rpm", "rpmbuild", "createrepo_c", "dpkg-deb")
DNF_COMMANDS = ("dnf", "dnf5", "dnf4", "dnf-3")  # any flavour; buildahpy finds the one it runs


def dnf_flavour() -> str:
    """The flavour buildahpy runs here (a lane may force one with BUILDAHPY_DNF_FLAVOUR)."""
    return find_dnf(os.environ.get("BUILDAHPY_DNF_FLAVOUR") or "auto")[1]


def dnf_command() -> str:
    """The command buildahpy runs as dnf here: ``dnf``, ``dnf5`` ..."""
    return find_dnf(os.environ.get("BUILDAHPY_DNF_FLAVOUR") or "auto")[0]


def fixture_nevra(repo_file: Path, name: str) -> str:
    """name-version-release.arch of a fixture package, as rpm reads its file: the versions
    are those of the Debian packages the fixture was made from."""
    rpms = sorted((repo_file.parent / "Packages").glob(f"{name}-[0-9]*.rpm"))
    qf = "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"
    out = subprocess.run(
        ["rpm", "-qp", "--nosignature", "--qf", qf, *map(str, rpms)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    (nevra,) = [n for n in out if n.rsplit("-", 2)[0] == name]
    return nevra


def must_run() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("BUILDAHPY_REQUIRE_INTEGRATION") == "1"


def unavailable(reason: str) -> None:
    if must_run():
        pytest.fail(f"integration prerequisites missing (required here): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_tools() -> None:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not any(shutil.which(command) for command in DNF_COMMANDS):
        missing.append("dnf")
    if missing:
        unavailable(f"missing tools: {', '.join(missing)}")
    if os.geteuid() != 0:
        unavailable("real builds need root")


@pytest.fixture(scope="session")
def fixture_repo(real_tools: None) -> Path:
    """The fixture repository's .repo file (built once; reused while its builder is unchanged)."""
    outdir = Path(os.environ.get("BUILDAHPY_FIXTURE_DIR", ROOT / ".work" / "fixture-repo"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fixture_repo.py"), str(outdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"fixture repository build failed: {result.stderr[-2000:]}")
    return outdir / "fixture.repo"


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory, real_tools: None) -> Iterator[dict[str, str]]:
    """A private containers-storage, so tests neither see nor touch the user's images."""
    base = tmp_path_factory.mktemp("storage")
    conf = base / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/graph"\nrunroot = "{base}/run"\n'
    )
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))
    env["BUILDAHPY_CACHE_DIR"] = str(base / "cache")  # never the host's /var/cache/buildahpy
    yield env
    subprocess.run(["buildah", "rm", "--all"], env=env, capture_output=True, check=False)
    subprocess.run(
        ["buildah", "rmi", "--all", "--force"], env=env, capture_output=True, check=False
    )
    subprocess.run(["umount", "-R", f"{base}/graph/overlay"], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


def rerun_if_silent(
    run: Callable[[], subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    """A probe of a built image, run again (3 runs in all) while it exits 0 having printed
    nothing: buildah's chroot runner can exit before relaying a quick command's output (see
    buildah.query_in). Tests only probe with commands that read."""
    done = run()
    for _ in range(2):
        if done.returncode != 0 or done.stdout or done.stderr:
            break
        done = run()
    return done


class Builder:
    """Runs the real command line against the private storage and inspects what it made."""

    def __init__(self, env: dict[str, str], repo_file: Path, tmp_path: Path) -> None:
        self.env = env
        self.repo_file = repo_file
        self.tmp_path = tmp_path

    def recipe(self, name: str, body: str) -> Path:
        path = self.tmp_path / name
        path.write_text(body)
        return path

    def cli(
        self,
        *args: str | Path,
        repo: bool = True,
        releasever: str | None = "40",
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "buildahpy", *map(str, args)]
        if repo:
            argv += ["--repo-file", str(self.repo_file)]
        if releasever:
            argv += ["--releasever", releasever]
        return subprocess.run(
            argv,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def tool(self, *argv: str) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=True).stdout

    def image_id(self, tag: str) -> str | None:
        result = subprocess.run(
            ["buildah", "inspect", "--type=image", "--format={{.FromImageID}}", tag],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() or None

    def inspect(self, tag: str) -> dict:
        return json.loads(self.tool("buildah", "inspect", "--type=image", tag))

    def size(self, tag: str) -> int:
        return int(self.tool("podman", "image", "inspect", "--format={{.Size}}", tag).strip())

    def containers(self) -> list[str]:
        return [
            c["containername"]
            for c in json.loads(self.tool("buildah", "containers", "--json") or "null") or []
        ]

    def run_in(self, tag: str, *argv: str) -> subprocess.CompletedProcess[str]:
        # the limits buildahpy gives its own containers: buildah >= 1.43 would raise them
        name = self.tool("buildah", "from", "--pull=never", *buildah.working_limits(), tag)
        name = name.strip()
        try:
            return rerun_if_silent(
                lambda: subprocess.run(
                    ["buildah", "run", "--isolation=chroot", name, "--", *argv],
                    env=self.env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
            )
        finally:
            self.tool("buildah", "rm", name)

    @contextmanager
    def mounted(self, tag: str) -> Iterator[Path]:
        name = self.tool("buildah", "from", "--pull=never", tag).strip()
        try:
            yield Path(self.tool("buildah", "mount", name).strip())
        finally:
            self.tool("buildah", "umount", name)
            self.tool("buildah", "rm", name)

    def packages(self, root: Path, dbpath: str = "/usr/lib/sysimage/rpm") -> list[str]:
        out = subprocess.run(
            ["rpm", f"--root={root}", f"--dbpath={dbpath}", "-qa", "--qf", "%{NAME}\\n"],
            env=dict(self.env, HOME=str(self.tmp_path)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sorted(out.split())


def overlay_mounts(env: dict[str, str]) -> list[str]:
    """Mounts below this session's private storage (other runs on the machine do not count)."""
    graph = str(Path(env["CONTAINERS_STORAGE_CONF"]).parent / "graph")
    with open("/proc/mounts") as handle:
        return [line.split()[1] for line in handle if line.split()[1].startswith(graph)]


@pytest.fixture
def builder(storage: dict[str, str], fixture_repo: Path, tmp_path: Path) -> Iterator[Builder]:
    helper = Builder(storage, fixture_repo, tmp_path)
    mounts_before = overlay_mounts(storage)
    yield helper
    assert helper.containers() == [], "a build left a working container behind"
    assert overlay_mounts(storage) == mounts_before, "a build left a rootfs mounted"
