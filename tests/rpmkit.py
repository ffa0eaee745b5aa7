"""Small RPMs and repositories made on the fly by tests (rpmbuild + createrepo_c).

For packages the shared fixture repository does not carry: a test writes a spec body, gets an
.rpm, and publishes one or more of them as a repository with its own .repo file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

SPEC_HEAD = """\
%global debug_package %{{nil}}
%global __os_install_post %{{nil}}
%global _build_id_links none
Name: {name}
Version: {version}
Release: 1.fc40
Summary: buildahpy test package {name}
License: MIT
BuildArch: {arch}
AutoReqProv: no
"""


def build_rpm(
    workdir: Path,
    name: str,
    body: str,
    *,
    version: str = "1.0",
    arch: str = "noarch",
    files: Mapping[str, bytes | str] | None = None,
    symlinks: Mapping[str, str] | None = None,
) -> Path:
    """Build one package. ``files`` maps image paths to content, ``symlinks`` image paths to
    link targets; they are installed by %install and listed in %files unless ``body`` has its
    own %files section. ``body`` holds the rest of the spec (Requires, %description,
    scriptlets, %files ...)."""
    top = workdir / f"rpmbuild-{name}"
    src = top / "payload"
    for path, content in (files or {}).items():
        target = src / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    for path, link_target in (symlinks or {}).items():
        link = src / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(link_target)
    body = textwrap.dedent(body)
    spec = SPEC_HEAD.format(name=name, version=version, arch=arch) + body
    if "%description" not in body:
        spec += "\n%description\nTest package.\n"
    spec += f"\n%install\nmkdir -p %{{buildroot}}\ncp -a {src}/. %{{buildroot}}/ || true\n"
    if "%files" not in body:
        spec += "\n%files\n" + "".join(f'"{p}"\n' for p in [*(files or {}), *(symlinks or {})])
    spec_path = top / f"{name}.spec"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(spec)
    env = dict(os.environ, HOME=str(top))
    subprocess.run(
        [
            "rpmbuild",
            "-bb",
            "--quiet",
            f"--define=_topdir {top}",
            f"--define=_rpmdir {top}/RPMS",
            str(spec_path),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    (rpm,) = (top / "RPMS").rglob("*.rpm")
    return rpm


def make_repo(
    repo_dir: Path,
    rpms: Iterable[Path],
    *,
    repo_id: str = "extra",
    extra_options: str = "gpgcheck=0\n",
) -> Path:
    """Copy ``rpms`` into ``repo_dir``, run createrepo_c, write and return ``<repo_id>.repo``."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    for rpm in rpms:
        shutil.copy2(rpm, repo_dir / rpm.name)
    subprocess.run(["createrepo_c", "--quiet", str(repo_dir)], check=True, capture_output=True)
    repo_file = repo_dir / f"{repo_id}.repo"
    repo_file.write_text(
        f"[{repo_id}]\nname={repo_id}\nbaseurl=file://{repo_dir}\nenabled=1\n"
        f"metadata_expire=never\n{extra_options}"
    )
    return repo_file
