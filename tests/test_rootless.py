"""Rootless builds, for real: an unprivileged user with subordinate ids runs buildahpy.

The session fixture (run as root, like CI) creates that user and a second one without
subordinate ids, gives the first a private containers storage through its own
~/.config/containers/storage.conf, and makes sure the user can read the code, an interpreter and
the fixture repository (a checkout under a root-only directory is copied). Every build and every
look at an image then runs AS that user (``runuser``), inspection inside ``buildah unshare``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Builder, rerun_if_silent, unavailable
from proc_helpers import descendants
from rpmkit import build_rpm, make_repo

from buildahpy.host import buildah

pytestmark = pytest.mark.integration

# per test process, so two runs on one machine never share (or delete) each other's user
USER = f"bpy-rl-{os.getpid()}"
NOSUB = f"bpy-nosub-{os.getpid()}"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def runtime_distributions() -> list[importlib.metadata.Distribution]:
    """buildahpy's distribution and every one it needs at run time, read from their metadata
    (what a user without access to this venv gets a copy of)."""
    found, seen, todo = [], {"buildahpy"}, ["buildahpy"]
    while todo:
        try:
            dist = importlib.metadata.distribution(todo.pop())
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement whose marker leaves it out on this Python
        found.append(dist)
        for requirement in dist.requires or []:
            name = re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]
            if "extra ==" not in requirement and name.lower() not in seen:
                seen.add(name.lower())
                todo.append(name)
    return found


def copy_runtime(app: Path) -> None:
    """Each distribution's installed files (buildahpy's own package from this checkout)."""
    shutil.copytree(
        ROOT / "buildahpy", app / "buildahpy", ignore=shutil.ignore_patterns("__pycache__")
    )
    for dist in runtime_distributions():
        if dist.metadata["Name"] == "buildahpy":
            continue
        for file in dist.files or []:
            relative = Path(str(file))
            if relative.parts[0] in ("..", "bin", "__pycache__") or "__pycache__" in relative.parts:
                continue
            target = app / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(str(dist.locate_file(file))), target)


TALK = ("nginx", "bash_base", "busybox")
LEFTOVERS = ("var/cache/dnf", "var/lib/dnf", "var/log/dnf.log", "var/log/hawkey.log", "root/.rpmdb")


def sh(
    *argv: str, cwd: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, timeout=timeout, capture_output=True, text=True, check=False
    )


class RootlessUser:
    """Runs commands as an unprivileged user, with a clean, explicit environment."""

    def __init__(self, name: str, work: Path) -> None:
        self.name = name
        self.work = work
        self.home = Path(pwd.getpwnam(name).pw_dir)
        self.python = sys.executable
        self.pythonpath = ""
        self.repo_file = Path()

    def env(self) -> dict[str, str]:
        env = {"PATH": PATH, "HOME": str(self.home), "USER": self.name, "LOGNAME": self.name}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        if flavour := os.environ.get("BUILDAHPY_DNF_FLAVOUR"):  # a lane's forced flavour
            env["BUILDAHPY_DNF_FLAVOUR"] = flavour
        return env

    def run(self, *argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = [f"{k}={v}" for k, v in self.env().items()]
        command = ["runuser", "-u", self.name, "--", "env", "-i", *env, *map(str, argv)]
        return sh(*command, cwd=self.work, timeout=timeout)

    def popen(self, *argv: str | Path) -> subprocess.Popen[str]:
        env = [f"{k}={v}" for k, v in self.env().items()]
        command = ["runuser", "-u", self.name, "--", "env", "-i", *env, *map(str, argv)]
        return subprocess.Popen(
            command, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def cli(
        self, *args: str | Path, repo_files: tuple[Path, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        repos = [x for f in (self.repo_file, *repo_files) for x in ("--repo-file", str(f))]
        return self.run(self.python, "-m", "buildahpy", *args, *repos, "--releasever", "40")

    def unshare(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run("buildah", "unshare", "--", *argv)

    def tree(self, tag: str, *paths: str) -> dict[str, list[object]]:
        done = self.unshare(self.python, self.work / "imagetree.py", tag, *paths)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def in_image(self, tag: str, script: str) -> subprocess.CompletedProcess[str]:
        """A shell script inside the namespace with $m the mounted image."""
        body = (
            f"c=$(buildah from --pull=never {tag}) && m=$(buildah mount $c) && "
            f"( {script} ); rc=$?; buildah umount $c >/dev/null; buildah rm $c >/dev/null; exit $rc"
        )
        return self.unshare("sh", "-c", body)

    def run_in(self, tag: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """``buildah run --isolation=chroot`` inside the namespace, in a network namespace of
        its own: chroot isolation keeps the caller's, and in the host's only real root may bind
        port 80 (nginx -t binds its listen ports)."""
        body = (
            # the limits buildahpy gives its containers (buildah >= 1.43 would raise them)
            f"c=$(buildah from --pull=never {' '.join(buildah.working_limits())} {tag}) && "
            'unshare --net -- buildah run --isolation=chroot $c -- "$@"; '
            "rc=$?; buildah rm $c >/dev/null; exit $rc"
        )
        return rerun_if_silent(lambda: self.unshare("sh", "-c", body, "sh", *argv))

    def containers(self) -> list[str]:
        done = self.run("buildah", "containers", "--json")
        return [c["containername"] for c in json.loads(done.stdout or "null") or []]

    def image_id(self, tag: str) -> str | None:
        done = self.run("buildah", "inspect", "--type=image", "--format={{.FromImageID}}", tag)
        return done.stdout.strip() or None


def ensure_user(name: str, *, subids: bool) -> None:
    if sh("id", "-u", name).returncode != 0:
        flags = [] if subids else ["--system"]  # system users get no automatic subids
        done = sh("useradd", *flags, "--create-home", "--user-group", "--shell", "/bin/sh", name)
        assert done.returncode == 0, done.stderr
    for path in ("/etc/subuid", "/etc/subgid"):
        text = Path(path).read_text() if Path(path).exists() else ""
        mine = [line for line in text.splitlines() if line.split(":")[0] == name]
        if subids and not mine:
            ends = [
                int(f[1]) + int(f[2])
                for f in (line.split(":") for line in text.splitlines())
                if len(f) == 3 and f[1].isdigit() and f[2].isdigit()
            ]
            start = max([100000, *ends])
            Path(path).write_text(
                text + ("" if not text or text.endswith("\n") else "\n") + f"{name}:{start}:65536\n"
            )
        elif not subids and mine:
            Path(path).write_text(
                "".join(f"{line}\n" for line in text.splitlines() if line.split(":")[0] != name)
            )


def remove_user(name: str) -> None:
    """userdel, after the user's leftover processes (started by these tests), and then what
    buildah, podman and buildahpy keep per uid in /tmp and /var/tmp."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for pid in [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]:
        if owner_of(pid) == uid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    sh("userdel", "--remove", name)
    for tmp in (Path("/tmp"), Path("/var/tmp")):
        for entry in tmp.iterdir():
            with contextlib.suppress(OSError):
                if entry.lstat().st_uid == uid and entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.lstat().st_uid == uid:
                    entry.unlink()
    for path in ("/etc/subuid", "/etc/subgid"):
        if Path(path).exists():
            lines = Path(path).read_text().splitlines()
            Path(path).write_text("".join(f"{x}\n" for x in lines if x.split(":")[0] != name))


def give(path: Path, name: str) -> None:
    shutil.chown(path, name, name)
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            os.lchown(
                os.path.join(dirpath, entry), pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid
            )


def choose_python(user: RootlessUser) -> None:
    """The venv's interpreter when the user can run it and import buildahpy from this checkout;
    else a copy of the runtime packages with the first interpreter the user can run."""
    probe = "import buildahpy, sh, attrs, structlog; print(buildahpy.__file__)"
    done = user.run(sys.executable, "-c", probe)
    if done.returncode == 0 and done.stdout.startswith(str(ROOT)):
        return
    app = user.work / "app"
    app.mkdir()
    copy_runtime(app)
    give(app, user.name)
    user.pythonpath = str(app)
    for python in (sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"):
        user.python = python
        if user.run(python, "-c", probe).returncode == 0:
            return
    unavailable(f"no Python >= 3.11 that user {user.name} can run (install python3)")


def readable_repo(user: RootlessUser, repo_file: Path) -> Path:
    """The fixture repository where the user can read it (copied when it cannot)."""
    repomd = repo_file.parent / "repodata" / "repomd.xml"
    if user.run("test", "-r", repomd).returncode == 0:
        return repo_file
    copy = user.work / "fixture-repo"
    shutil.copytree(repo_file.parent, copy)
    text = repo_file.read_text().replace(f"file://{repo_file.parent}", f"file://{copy}")
    (copy / repo_file.name).write_text(text)
    give(copy, user.name)
    return copy / repo_file.name


def storage_conf(user: RootlessUser) -> None:
    release = os.uname().release.split(".")
    native = (int(release[0]), int(release[1].split("-")[0])) >= (5, 13)
    conf = user.home / ".config" / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f'[storage]\ndriver = "{"overlay" if native else "vfs"}"\n'
        f'graphroot = "{user.work}/storage/graph"\nrunroot = "{user.work}/storage/run"\n'
    )
    give(user.home / ".config", user.name)


@pytest.fixture(scope="session")
def rootless(real_tools: None, fixture_repo: Path) -> Iterator[RootlessUser]:
    missing = [t for t in ("runuser", "useradd", "userdel", "newuidmap") if not shutil.which(t)]
    if missing:
        unavailable(f"missing tools for rootless tests: {', '.join(missing)}")
    ensure_user(USER, subids=True)
    ensure_user(NOSUB, subids=False)
    work = Path(tempfile.mkdtemp(prefix="buildahpy-rootless-", dir="/var/tmp"))
    try:
        give(work, USER)
        work.chmod(0o755)  # the user without subids runs the same code from here
        user = RootlessUser(USER, work)
        storage_conf(user)
        choose_python(user)
        user.repo_file = readable_repo(user, fixture_repo)
        shutil.copytree(ROOT / "recipes", work / "recipes")
        shutil.copy(ROOT / "tests" / "imagetree.py", work / "imagetree.py")
        give(work, USER)
        yield user
        user.run("buildah", "rm", "--all")
        user.run("buildah", "rmi", "--all", "--force")
    finally:
        sh("umount", "-R", f"{work}/storage/graph/overlay")
        shutil.rmtree(work, ignore_errors=True)
        remove_user(USER)
        remove_user(NOSUB)


@pytest.fixture
def user(rootless: RootlessUser) -> Iterator[RootlessUser]:
    yield rootless
    assert rootless.containers() == [], "a rootless build left a working container behind"


def test_talks_images_build_rootless_and_pass_the_root_checks(user: RootlessUser) -> None:
    recipes = [user.work / "recipes" / f"{name}.py" for name in TALK]
    result = user.cli(*recipes)
    assert result.returncode == 0, result.stderr
    expect = {
        "localhost/nginx:latest": (
            {"nginx", "coreutils-single", "glibc-minimal-langpack"},
            {"coreutils", "glibc-all-langpacks", "nginx-docs"},
        ),
        "localhost/bash-base:latest": (
            {"bash", "glibc", "coreutils-single"},
            {"glibc-all-langpacks", "coreutils", "bash-completion"},
        ),
        "localhost/busybox:latest": ({"busybox"}, {"bash", "glibc"}),
    }
    for tag, (present, absent) in expect.items():
        query = user.in_image(
            tag,
            "rpm --root=$m --dbpath=/usr/lib/sysimage/rpm -qa "
            "--qf '%{NAME}\\n'; "
            + "".join(
                f"if test -e $m/{p} -o -L $m/{p}; then echo LEFT {p}; fi; " for p in LEFTOVERS
            ),
        )
        assert query.returncode == 0, query.stderr
        names = set(query.stdout.split())
        assert present <= names and not absent & names, (tag, names)
        assert "LEFT" not in query.stdout, query.stdout
    nginx = user.run_in("localhost/nginx:latest", "/usr/sbin/nginx", "-t")
    assert nginx.returncode == 0 and "test is successful" in nginx.stderr, nginx.stderr
    bash = user.run_in("localhost/bash-base:latest", "/bin/bash", "-c", "echo $((6*7))")
    assert bash.returncode == 0 and bash.stdout.startswith("42"), bash.stderr
    box = user.run_in("localhost/busybox:latest", "/bin/sh", "-c", "echo busy")
    assert box.returncode == 0 and box.stdout.startswith("busy"), box.stderr
    owners = user.tree("localhost/nginx:latest", "var/lib/nginx/tmp", "etc/passwd")
    assert owners["var/lib/nginx/tmp"][:3] == ["drwxrwx---", 975, 0]  # the %pre-made user


def test_diff_and_why_read_images_rootless(user: RootlessUser) -> None:
    recipes = [user.work / "recipes" / f"{name}.py" for name in ("bash_base", "busybox")]
    built = user.cli(*recipes)
    assert built.returncode == 0, built.stderr
    found = user.run(
        user.python,
        "-m",
        "buildahpy",
        "diff",
        "localhost/bash-base:latest",
        "localhost/busybox:latest",
        "--format",
        "json",
    )
    assert found.returncode == 0, found.stderr
    kinds = {c["name"]: c["kind"] for c in json.loads(found.stdout)["packages"]}
    assert (kinds["busybox"], kinds["bash"]) == ("added", "removed")
    why = user.run(user.python, "-m", "buildahpy", "why", "localhost/bash-base:latest", "glibc")
    assert why.returncode == 0, why.stderr
    assert why.stdout.startswith("why glibc: glibc (requested)"), why.stdout


SVC_SPEC = """\
Requires(pre): /bin/sh
Requires: glibc

%pre
have=
while IFS=: read -r name rest; do [ "$name" = svc ] && have=1; done < /etc/group
[ -n "$have" ] || echo 'svc:x:54321:' >> /etc/group
have=
while IFS=: read -r name rest; do [ "$name" = svc ] && have=1; done < /etc/passwd
[ -n "$have" ] || echo 'svc:x:54321:54321:Service:/var/lib/svc:/sbin/nologin' >> /etc/passwd

%files
%dir %attr(0750,svc,svc) /var/lib/svc
%attr(0640,svc,svc) /var/lib/svc/state
%attr(4755,root,root) /usr/bin/svc-suid
%attr(2755,root,svc) /usr/bin/svc-sgid
%caps(cap_net_bind_service=ep) %attr(0755,root,root) /usr/bin/svc-bind
/usr/lib/sysusers.d/svc.conf
"""
SYSUSERS = 'g svcextra 4242\nu svcd - "svc daemon" /var/lib/svcd\nm svcd svcextra\n'
SVC_PATHS = (
    "var/lib/svc",
    "var/lib/svc/state",
    "usr/bin/svc-suid",
    "usr/bin/svc-sgid",
    "usr/bin/svc-bind",
)
# security.capability as the namespace's root reads it: VFS_CAP_REVISION_2 with the effective
# flag (0x02000001, little-endian), then permitted bits 0-31 with CAP_NET_BIND_SERVICE (bit 10)
NET_BIND_EP = "01000002" + "00040000"
SVC_RECIPE = """\
from buildahpy import recipe

@recipe("localhost/svc:latest")
def svc(image):
    image.install("bash", "svc-owned")
"""


@pytest.fixture(scope="session")
def svc_repo(rootless: RootlessUser) -> Path:
    """A package whose files keep a service user's ids, a setuid, a setgid and a capability."""
    binary = Path("/usr/bin/true").read_bytes()
    rpm = build_rpm(
        rootless.work / "rpmbuild",
        "svc-owned",
        SVC_SPEC,
        arch=os.uname().machine,
        files={
            "/var/lib/svc/state": "ok\n",
            "/usr/bin/svc-suid": binary,
            "/usr/bin/svc-sgid": binary,
            "/usr/bin/svc-bind": binary,
            "/usr/lib/sysusers.d/svc.conf": SYSUSERS,
        },
    )
    repo = make_repo(rootless.work / "svc-repo", [rpm], repo_id="svc")
    (rootless.work / "svc.py").write_text(SVC_RECIPE)
    give(rootless.work, USER)
    return repo


def layer_entries(oci_dir: Path, paths: tuple[str, ...]) -> dict[str, tuple[object, ...]]:
    """What the image's layer tars record for ``paths``: mode, ids, capability xattr."""
    index = json.loads((oci_dir / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((oci_dir / "blobs" / "sha256" / digest).read_text())
    found: dict[str, tuple[object, ...]] = {}
    for layer in manifest["layers"]:
        with tarfile.open(oci_dir / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tar:
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                if name in paths:
                    cap = member.pax_headers.get("SCHILY.xattr.security.capability", "")
                    found[name] = (
                        oct(member.mode),
                        member.uid,
                        member.gid,
                        cap.encode("utf-8", "surrogateescape").hex(),
                    )
    return found


def test_owners_setuid_setgid_and_caps_survive_rootless_as_they_do_for_root(
    user: RootlessUser, svc_repo: Path, builder: Builder
) -> None:
    result = user.cli(user.work / "svc.py", repo_files=(svc_repo,))
    assert result.returncode == 0, result.stderr
    tree = user.tree("localhost/svc:latest")
    assert tree["var/lib/svc"][:3] == ["drwxr-x---", 54321, 54321]
    assert tree["var/lib/svc/state"][:3] == ["-rw-r-----", 54321, 54321]
    assert tree["usr/bin/svc-suid"][:3] == ["-rwsr-xr-x", 0, 0]
    assert tree["usr/bin/svc-sgid"][:3] == ["-rwxr-sr-x", 0, 54321]
    assert tree["usr/bin/svc-bind"][-1].startswith(NET_BIND_EP), tree["usr/bin/svc-bind"]
    passwd = user.in_image("localhost/svc:latest", "cat $m/etc/passwd $m/etc/group")
    assert "svcd:x:999:999:svc daemon:/var/lib/svcd:/usr/sbin/nologin" in passwd.stdout
    assert "svcextra:x:4242:svcd" in passwd.stdout  # sysusers.d applied after rpm 4.18
    # the same recipe built by root: the same files, owners, modes, capabilities and contents
    as_root = builder.cli(user.work / "svc.py", "--repo-file", svc_repo)
    assert as_root.returncode == 0, as_root.stderr
    root_tree = json.loads(
        builder.tool(sys.executable, str(ROOT / "tests" / "imagetree.py"), "localhost/svc:latest")
    )
    assert tree == root_tree
    # and the committed layers carry them the same way
    oci = user.work / "svc-oci"
    pushed = user.run(
        "buildah", "push", "--disable-compression", "localhost/svc:latest", f"oci:{oci}"
    )
    assert pushed.returncode == 0, pushed.stderr
    root_oci = builder.tmp_path / "svc-oci"
    builder.tool(
        "buildah", "push", "--disable-compression", "localhost/svc:latest", f"oci:{root_oci}"
    )
    layers = layer_entries(oci, SVC_PATHS)
    assert layers == layer_entries(root_oci, SVC_PATHS)
    assert layers["var/lib/svc/state"][1:3] == (54321, 54321)
    assert str(layers["usr/bin/svc-bind"][3]).startswith(NET_BIND_EP)


def snapshot(path: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(path))
            if not rel.startswith(skip):
                st = full.lstat()
                found[rel] = (st.st_size, st.st_mtime_ns)
    return found


# buildah's own state (its image blob cache) and buildahpy's download cache are theirs to keep
HOME_SKIP = (".local/share/containers", ".cache/buildahpy", ".rpmmacros")


HOST_DNF_STATE = (
    "/var/cache/dnf",
    "/var/lib/dnf",
    "/var/log/dnf.log",
    "/var/log/dnf.rpm.log",
    "/var/log/hawkey.log",
    "/var/cache/libdnf5",
    "/var/lib/rpm",
)


def host_state() -> dict[str, object]:
    found: dict[str, object] = {}
    for path in map(Path, HOST_DNF_STATE):
        if path.is_dir():
            found[str(path)] = snapshot(path)
        elif path.exists():
            found[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return found


def test_users_rpmmacros_and_home_and_host_dnf_state_stay_out(user: RootlessUser) -> None:
    # its own tag, so no earlier build of nginx counts as up to date
    recipe = user.work / "nginx_macros.py"
    recipe.write_text(
        (user.work / "recipes" / "nginx.py").read_text().replace("nginx:latest", "nginx-macros")
    )
    shutil.chown(recipe, USER, USER)
    macros = user.home / ".rpmmacros"
    # read, these would move the rpmdb and leave nginx's configuration out of the image
    macros.write_text("%_dbpath /var/lib/evil-rpmdb\n%_netsharedpath /etc/nginx\n")
    shutil.chown(macros, USER, USER)
    home_before, host_before = snapshot(user.home, HOME_SKIP), host_state()
    try:
        result = user.cli(recipe)
    finally:
        macros.unlink()
    assert result.returncode == 0, result.stderr
    assert snapshot(user.home, HOME_SKIP) == home_before  # no ~/.cache/dnf, no ~/.rpmdb
    assert host_state() == host_before
    assert [line for line in result.stdout.splitlines() if "nginx-macros" in line], result.stdout
    look = user.in_image(
        "localhost/nginx-macros:latest",
        "ls $m/usr/lib/sysimage/rpm/rpmdb.sqlite $m/etc/nginx/nginx.conf && "
        "test ! -e $m/var/lib/evil-rpmdb",
    )
    assert look.returncode == 0, look.stdout + look.stderr


def test_without_subids_preflight_fails_with_the_fix_and_creates_nothing(
    rootless: RootlessUser,
) -> None:
    nosub = RootlessUser(NOSUB, rootless.work)
    nosub.python, nosub.pythonpath = rootless.python, rootless.pythonpath
    nosub.repo_file = rootless.repo_file
    storage = nosub.home / ".local" / "share" / "containers"
    result = nosub.cli(rootless.work / "recipes" / "nginx.py")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(errors) == 1, result.stderr
    assert f"no subordinate uids for user '{NOSUB}' in /etc/subuid" in errors[0]
    assert f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {NOSUB}" in errors[0]
    assert not storage.exists()
    # listing and dry runs need no namespace, so they work for this user too
    listed = nosub.cli(rootless.work / "recipes" / "nginx.py", "--list")
    assert listed.returncode == 0 and "localhost/nginx:latest" in listed.stdout, listed.stderr
    dry = nosub.cli(rootless.work / "recipes" / "nginx.py", "--dry-run")
    assert dry.returncode == 0 and "--installroot=<mountpoint>" in dry.stdout, dry.stderr
    assert not storage.exists()


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def owner_of(pid: int) -> int:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return -1


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_reach_the_build_inside_the_namespace(
    user: RootlessUser, signum: int, code: int
) -> None:
    slow = user.work / "slow.py"
    slow.write_text(
        "from buildahpy import recipe\n\n@recipe('localhost/slow')\n"
        "def slow(image):\n    image.install('bash', 'coreutils-single')\n"
        "    image.run(['/usr/bin/sleep', '60'])\n"
    )
    shutil.chown(slow, USER, USER)
    proc = user.popen(
        user.python, "-m", "buildahpy", slow, "--repo-file", user.repo_file, "--releasever", "40"
    )
    try:
        deadline = time.monotonic() + 120
        while not any("sleep 60" in c for c in descendants(proc.pid).values()):
            assert time.monotonic() < deadline and proc.poll() is None, "build never got to sleep"
            time.sleep(0.05)
        # runuser -> env, which execs the python outside the namespace: runuser's direct child
        outer = [
            p
            for p, c in descendants(proc.pid).items()
            if "-m buildahpy" in c and parent_of(p) == proc.pid
        ]
        assert len(outer) == 1, descendants(proc.pid)
        os.kill(outer[0], signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "interrupted by signal" in stderr
    assert user.image_id("localhost/slow:latest") is None
    uid = pwd.getpwnam(USER).pw_uid
    assert not [c for p, c in descendants(1).items() if "sleep 60" in c and owner_of(p) == uid]


@pytest.mark.parametrize("name", TALK)
def test_two_rootless_builds_give_the_same_image(user: RootlessUser, name: str) -> None:
    recipe = user.work / "recipes" / f"{name}.py"
    tag = f"localhost/{name.replace('_', '-')}:latest"
    ids = []
    for _ in range(2):
        result = user.cli(recipe, "--rebuild")
        assert result.returncode == 0, result.stderr
        ids.append(user.image_id(tag))
    assert ids[0] is not None and ids[0] == ids[1]


# A package that declares its user only in a sysusers.d file, the way Fedora 42+ packages do:
# rpmbuild >= 4.19 turns that file into user()/group() provides, and rpm >= 4.19 creates the
# user in its %sysusers step, before the files that the user owns are unpacked. AutoProv on (the
# kit turns it off) so the generator runs. Built two ways: with 'setup' (which ships
# /etc/passwd) in the same transaction, and with setup in a later one, which replaces the
# /etc/passwd the step wrote: only the pass after that transaction brings the user back, and it
# must come back with the ids its files were given.
SYSUSERS_SPEC = """\
AutoProv: yes

%files
%dir %attr(0750,sysd,sysd) /var/lib/sysd
%attr(0640,sysd,sysd) /var/lib/sysd/state
/usr/lib/sysusers.d/sysd.conf
"""
SYSUSERS_RECIPES = {
    "one-transaction": '    image.install("setup", "bash", "sysd-owned")\n',
    "setup-later": (
        '    image.install("sysd-owned")\n'
        '    image.mkdir("/srv")\n'  # ends the transaction: setup comes in a second one
        '    image.install("setup", "bash")\n'
    ),
}


@pytest.fixture(scope="session")
def sysusers_repo(rootless: RootlessUser) -> Path:
    rpm = build_rpm(
        rootless.work / "rpmbuild",
        "sysd-owned",
        SYSUSERS_SPEC,
        files={
            "/var/lib/sysd/state": "ok\n",
            "/usr/lib/sysusers.d/sysd.conf": 'u sysd - "sysusers daemon" /var/lib/sysd\n',
        },
    )
    provides = sh("rpm", "-qp", "--provides", str(rpm)).stdout.split("\n")
    if not any(line.startswith("user(sysd)") for line in provides):
        # rpm 4.18 (Debian 12): no sysusers generator, no %sysusers step to test
        pytest.skip("this rpmbuild makes no user()/group() provides from sysusers.d (rpm < 4.19)")
    assert any(line.startswith("group(sysd)") for line in provides), provides
    repo = make_repo(rootless.work / "sysd-repo", [rpm], repo_id="sysd")
    for name, body in SYSUSERS_RECIPES.items():
        (rootless.work / f"sysd-{name}.py").write_text(
            f"from buildahpy import recipe\n\n@recipe('localhost/sysd-{name}:latest')\n"
            f"def sysd(image):\n{body}"
        )
    give(rootless.work, USER)
    return repo


def sysd_account(text: str) -> tuple[int, int]:
    passwd = [line.split(":") for line in text.splitlines() if line.startswith("sysd:x:")]
    assert len(passwd) == 1, text
    _name, _x, uid, gid, gecos, home, _shell = passwd[0]
    assert (gecos, home) == ("sysusers daemon", "/var/lib/sysd"), passwd
    assert 0 < int(uid) < 1000, passwd  # a system user
    return int(uid), int(gid)


@pytest.mark.parametrize("order", sorted(SYSUSERS_RECIPES))
def test_sysusers_step_makes_the_user_before_its_files_root_and_rootless(
    user: RootlessUser, sysusers_repo: Path, builder: Builder, order: str
) -> None:
    tag, recipe = f"localhost/sysd-{order}:latest", user.work / f"sysd-{order}.py"
    result = user.cli(recipe, repo_files=(sysusers_repo,))
    assert result.returncode == 0, result.stderr
    script = "cat $m/etc/passwd; echo @@; cat $m/etc/group; echo @@; ls $m/etc"
    accounts = user.in_image(tag, script)
    assert accounts.returncode == 0, accounts.stderr
    passwd, group, etc = accounts.stdout.split("@@\n")
    uid, gid = sysd_account(passwd)
    assert f"sysd:x:{gid}:" in group.splitlines()
    # setup's accounts too: rpm left its files as .rpmnew when the user came first
    assert "root:x:0:0:" in passwd and "root:x:0:" in group, etc
    assert not [name for name in etc.split() if name.endswith(".rpmnew")], etc
    tree = user.tree(tag)
    # owned by the user at unpack time: only rpm's %sysusers step can have made it by then
    assert tree["var/lib/sysd"][:3] == ["drwxr-x---", uid, gid]
    assert tree["var/lib/sysd/state"][:3] == ["-rw-r-----", uid, gid]
    as_root = builder.cli(recipe, "--repo-file", sysusers_repo)
    assert as_root.returncode == 0, as_root.stderr
    root_tree = json.loads(builder.tool(sys.executable, str(ROOT / "tests" / "imagetree.py"), tag))
    assert root_tree == tree  # the same ids, owners and files


OWNED_RECIPE = """\
from buildahpy import recipe

@recipe("localhost/owned-rootless")
def owned_rootless(image):
    image.install("nginx")
    image.write_file("/etc/nginx/conf.d/app.conf", "x\\n", 0o640, owner="nginx")
    image.copy("owned-tree", "/srv/tree", owner="1000:1001")
"""


def test_owner_and_relative_copies_rootless_as_for_root(
    user: RootlessUser, builder: Builder
) -> None:
    """owner= sets the ids inside the user namespace (what the image records), with no chown
    binary, and a relative copy reads the recipe's directory whatever the working directory."""
    folder = user.work / "owned"
    (folder / "owned-tree" / "sub").mkdir(parents=True)
    (folder / "owned-tree" / "sub" / "f").write_text("f\n")
    (folder / "owned.py").write_text(OWNED_RECIPE)
    give(user.work, USER)
    result = user.cli(folder / "owned.py", user.work / "recipes" / "distroless.py")
    assert result.returncode == 0, result.stderr
    paths = ("srv", "etc/nginx/conf.d/app.conf", "srv/tree", "srv/tree/sub", "srv/tree/sub/f")
    tree = user.tree("localhost/owned-rootless:latest", *paths)
    assert tree["etc/nginx/conf.d/app.conf"][:3] == ["-rw-r-----", 975, 975]  # nginx, made by %pre
    assert [tree[p][1:3] for p in paths[2:]] == [[1000, 1001]] * 3
    assert tree["srv"][:3] == ["drwxr-xr-x", 0, 0]
    home = user.tree("localhost/distroless:nonroot", "home/nonroot")["home/nonroot"]
    assert home[:3] == ["drwx------", 65532, 65532]
    as_root = builder.cli(folder / "owned.py")
    assert as_root.returncode == 0, as_root.stderr
    root_tree = json.loads(
        builder.tool(
            sys.executable,
            str(ROOT / "tests" / "imagetree.py"),
            "localhost/owned-rootless:latest",
            *paths,
        )
    )
    assert tree == root_tree
