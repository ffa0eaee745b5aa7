"""Which packages satisfy each spec, without an rpm run for a spec that is an installed name
the build's rpmdb query just read. A fake rpm on PATH records every run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_features import fake_tool

from buildahpy.host import rpmdb


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls"
    # answers every -q as rpm does for an installed nginx satisfying the spec
    answer = '[ "$3" = -qa ] && printf "@@nginx\\0370\\0371\\0371\\037x86_64\\n" || echo @@nginx'
    fake_tool(tmp_path, "rpm", f'echo "$@" >> {log}\n{answer}')
    monkeypatch.setenv("PATH", str(tmp_path))
    return log


def test_installed_names_are_answered_without_rpm(calls: Path) -> None:
    found = rpmdb.satisfying("/r", "/db", ["nginx", "coreutils-single"], {}, {"nginx", "bash"})
    assert found == {"nginx": ["nginx"], "coreutils-single": ["nginx"]}
    # only the spec the query did not name went to rpm (as a label first)
    assert calls.read_text() == "--root=/r --dbpath=/db -q --qf @@%{NAME}\n -- coreutils-single\n"


@pytest.mark.parametrize("spec", ["python3.11", "nginx >= 1.20", "ngin*", "/usr/sbin/nginx"])
def test_other_specs_still_ask_rpm(calls: Path, spec: str) -> None:
    rpmdb.satisfying("/r", "/db", [spec], {}, {spec, "nginx"})
    assert calls.read_text()


def test_a_name_counts_only_as_a_whole_installed_name() -> None:
    assert rpmdb.known_name("nginx", {"nginx"})
    assert not rpmdb.known_name("nginx-1.22", {"nginx"})
    assert not rpmdb.known_name("glibc.x86_64", {"glibc.x86_64"})
