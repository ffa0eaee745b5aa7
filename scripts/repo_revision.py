"""The next revision of a repository, as a mirror sync brings it: one package bumped to a new
release (the same files, ``Release`` + 1) and its old rpm gone, the metadata made again.
Used by scripts/chaos (mirror class) and tests/test_mirror_faults_real.py.

Host binaries: rpm, rpm2archive, rpmbuild, createrepo_c.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path


def _rpm(*args: str) -> str:
    return subprocess.run(["rpm", *args], capture_output=True, text=True, check=True).stdout


def _spec(old: Path, staged: Path) -> tuple[str, str]:
    """A spec making ``old`` again with its release bumped; and the new release."""
    query = "%{NAME}\\n%{VERSION}\\n%{RELEASE}\\n%{ARCH}\\n%{SUMMARY}\\n%{LICENSE}\\n"
    name, version, release, arch, summary, licence = _rpm("-qp", "--qf", query, str(old)).split(
        "\n"
    )[:6]
    number, _, rest = release.partition(".")
    bumped = f"{int(number) + 1}.{rest}" if number.isdigit() else f"{release}.1"
    requires = [r for r in _rpm("-qpR", str(old)).splitlines() if not r.startswith("rpmlib(")]
    provides = [
        p for p in _rpm("-qp", "--provides", str(old)).splitlines() if not p.startswith(name + " ")
    ]
    files = _rpm("-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]", str(old)).splitlines()
    listed = [
        f"%dir {path}" if perms.startswith("d") else path
        for perms, path in (line.split(" ", 1) for line in files if line.strip())
    ]
    lines = [
        "%global debug_package %{nil}",
        "%global __os_install_post %{nil}",
        "%global _build_id_links none",
        f"Name: {name}",
        f"Version: {version}",
        f"Release: {bumped}",
        f"Summary: {summary}",
        f"License: {licence}",
        "AutoReqProv: no",
        f"BuildArch: {arch}",
        *(f"Requires: {r}" for r in requires),
        *(f"Provides: {p}" for p in provides),
        "",
        "%description",
        f"{summary}; the next release, for a mirror sync.",
        "",
        "%install",
        f"cp -a {staged}/. %{{buildroot}}/",
        "",
        "%files",
        *listed,
    ]
    return "\n".join(lines) + "\n", bumped


def next_revision(fixture: Path, dest: Path, prefix: str = "busybox") -> tuple[str, str]:
    """Write into ``dest`` the fixture repository with ``prefix``'s package bumped to its next
    release and the old file removed; return (old file name, new file name)."""
    old = next((fixture / "Packages").glob(f"{prefix}-[0-9]*.rpm"))
    (dest / "Packages").mkdir(parents=True)
    for rpm in (fixture / "Packages").glob("*.rpm"):
        if rpm != old:
            os.link(rpm, dest / "Packages" / rpm.name)
    work = dest.parent / f"{dest.name}-build"
    staged = work / "root"
    staged.mkdir(parents=True)
    # stdin to stdout, uncompressed: rpm 4.18 and 6.1 name the files they write differently
    with old.open("rb") as source, (work / "payload.tar").open("wb") as tar:
        subprocess.run(["rpm2archive", "-n", "-"], stdin=source, stdout=tar, check=True)
    with tarfile.open(work / "payload.tar") as archive:
        archive.extractall(staged, filter="tar")
    spec, bumped = _spec(old, staged)
    (work / "next.spec").write_text(spec)
    defines = [f"_topdir {work}", f"_rpmdir {work / 'rpms'}", "_buildhost buildahpy-fixture"]
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", *[a for d in defines for a in ("--define", d)], "next.spec"],
        cwd=work,
        env=dict(os.environ, HOME=str(work)),
        check=True,
        capture_output=True,
    )
    built = next((work / "rpms").rglob("*.rpm"))
    new_name = re.sub(r"-[^-]+(\.[^.]+\.rpm)$", rf"-{bumped}\1", old.name)
    if built.name != new_name:
        raise RuntimeError(f"rpmbuild made {built.name}, not {new_name}")
    shutil.move(built, dest / "Packages" / built.name)
    shutil.rmtree(work)
    subprocess.run(
        ["createrepo_c", "--quiet", "--no-database", str(dest)], check=True, capture_output=True
    )
    return old.name, new_name
