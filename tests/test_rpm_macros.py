"""The rpm macros of a build: rootless plugins off, the sysusers helper, checked with real rpm."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import must_run
from plans import sample_plan

from buildahpy.build import sysusers
from buildahpy.plan.plan import ROOTLESS_OFF_PLUGINS, Plan, rpm_macros


def make_plan(tmp_path: Path) -> Plan:
    return sample_plan(workdir=str(tmp_path))


def test_rootless_macros_turn_plugins_off_and_root_keeps_them(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    root = rpm_macros(plan)
    assert "__transaction" not in root and "__systemd_sysusers" not in root
    macros = rpm_macros(plan, rootless=True, sysusers_helper="/h/python -m x")
    lines = macros.splitlines()
    assert "%__transaction_selinux %{nil}" in lines
    assert "%__transaction_ima %{nil}" in lines
    assert len([line for line in lines if line.startswith("%__transaction_")]) == len(
        ROOTLESS_OFF_PLUGINS
    )
    assert "%__systemd_sysusers /h/python -m x" in lines


SEP = "<@>"


def rpm_eval(home: Path, *exprs: str) -> list[str]:
    if shutil.which("rpm") is None:
        if must_run():
            pytest.fail("rpm is required here")
        pytest.skip("no rpm on this host")
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    # one expression, fields joined by a separator: rpm 6 prints nothing at all, not even a
    # newline, for an --eval that expands to nothing, so lines cannot be counted
    out = subprocess.run(
        ["rpm", f"--eval={SEP.join(exprs)}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.rstrip("\n").split(SEP)


def test_rpm_reads_the_macros_as_meant(tmp_path: Path, rootfs_with_etc: Path) -> None:
    """The real rpm: plugins expand to nothing, and the sysusers helper it would run through
    /bin/sh (rpm >= 4.19, lib/psm.c) creates the user in the given root."""
    macros = rpm_macros(
        make_plan(tmp_path), rootless=True, sysusers_helper=sysusers.helper_command()
    )
    (tmp_path / ".rpmmacros").write_text(macros)
    selinux, ima, helper = rpm_eval(
        tmp_path, "%{?__transaction_selinux}", "%{?__transaction_ima}", "%{__systemd_sysusers}"
    )
    assert (selinux, ima) == ("", "")
    command = f"{helper} --replace /usr/lib/sysusers.d/svc.conf --root {rootfs_with_etc} -"
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        input='u svc - "Service"\n',
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "svc:x:999:999:Service:/:/usr/sbin/nologin"
        in (rootfs_with_etc / "etc" / "passwd").read_text()
    )


@pytest.fixture
def rootfs_with_etc(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root
