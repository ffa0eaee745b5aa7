"""Package specs as data: forms, globs, versioned provides, rpm's version order, the argv."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import must_run

from buildahpy.api import validate
from buildahpy.build.packages import require_satisfied
from buildahpy.errors import BuildError
from buildahpy.host import rpmdb
from buildahpy.plan import specs

BUSYBOX = specs.Installed(
    "busybox", "0", "1.35.0", "1.fc40", "x86_64", ("busybox", "busybox(x86-64)"), ()
)
LIBATTR = specs.Installed(
    "libattr", "0", "2.5.1", "1.fc40", "x86_64", ("libattr.so.1()(64bit)",), ("/usr/lib/a.so",)
)


@pytest.mark.parametrize(
    ("spec", "found"),
    [
        ("busybox-1.35*", ["busybox"]),
        ("busybox-1.35.0-1.fc4?", ["busybox"]),
        ("busybox-0:1.35.0-1.fc40.x86_6[4]", ["busybox"]),
        ("bus?box.x86_64", ["busybox"]),
        ("busybox-2*", []),
        ("libattr.so.1*", ["libattr"]),  # no name matches: provides are tried next
        ("/usr/lib/a.*", ["libattr"]),
        ("*a.so", []),  # files only for a path, as dnf does
        ("lib*", ["libattr"]),
    ],
)
def test_globs_match_the_forms_dnf_matches(spec: str, found: list[str]) -> None:
    assert specs.match_glob(spec, [BUSYBOX, LIBATTR]) == found


@pytest.mark.parametrize(
    ("provide", "wanted", "meets"),
    [
        ("2.36-1.fc40", "glibc >= 2.36", True),
        ("2.36-1.fc40", "glibc = 2.36", True),  # no release asked: any release
        ("2.36-1.fc40", "glibc > 2.36", False),
        ("2.36-1.fc40", "glibc < 2.36", False),
        ("2.36-1.fc40", "glibc <= 2.36-1.fc40", True),
        ("2.36-1.fc40", "glibc < 2.36-2.fc40", True),
        ("2.36-1.fc40", "glibc >= 2.4", True),  # 36 > 4 as numbers
        ("2.36-1.fc40", "glibc >= 1:1.0", False),  # an epoch outweighs the version
        ("1:1.0-1", "glibc > 2.36", True),
        ("2.36~rc1-1", "glibc >= 2.36", False),
        ("2.36^20240101-1", "glibc > 2.36", True),
    ],
)
def test_versioned_provides_compare_as_rpm_does(provide: str, wanted: str, meets: bool) -> None:
    parsed = specs.versioned(wanted)
    assert parsed is not None
    assert specs.meets([("glibc", specs.EQUAL, provide)], parsed) is meets
    assert specs.meets([("glibc", 0, "")], parsed)  # an unversioned provide meets any
    assert not specs.meets([("glibc-common", specs.EQUAL, provide)], parsed)


def test_not_every_spec_is_versioned() -> None:
    assert specs.versioned("glibc >= 2.36") == specs.Versioned("glibc", specs.GREATER | 8, "2.36")
    assert specs.versioned("glibc-2.36") is None and specs.versioned("a>b") is None


VERSIONS = [
    "1.0",
    "1.0.1",
    "1.0^",
    "1.0^1",
    "1.0~rc1",
    "1.0~~",
    "1.0~",
    "1",
    "1.0a",
    "1.0.a",
    "1a",
    "10",
    "9",
    "010",
    "1.01",
    "1.1",
    "2.36",
    "2.36-1.fc40",
    "fc40",
    "fc9",
    "1.0_1",
    "1.0+1",
    "a",
    "b",
    "1..0",
    "1.0.",
    "6.2.1+dfsg1",
    "6.2.1",
    "^",
    "~",
]


def test_version_order_is_rpms_own(tmp_path: Path) -> None:
    """Checked against the host's rpm (its Lua rpm.vercmp is rpmvercmp itself)."""
    if shutil.which("rpm") is None:
        if must_run():
            pytest.fail("rpm is required here")
        pytest.skip("no rpm on this host")
    pairs = list(itertools.product(VERSIONS, VERSIONS))
    calls = " ".join(f't[#t+1] = rpm.vercmp("{a}", "{b}")' for a, b in pairs)
    lua = "%{lua: local t = {} " + calls + ' print(table.concat(t, " "))}'
    out = subprocess.run(
        ["rpm", "--eval", lua], env={"HOME": str(tmp_path)}, capture_output=True, text=True
    ).stdout.split()
    assert len(out) == len(pairs)
    assert [specs.vercmp(a, b) for a, b in pairs] == [int(x) for x in out]


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("coreutils-9.1-1.fc40.x86_64", "coreutils"),
        ("coreutils >= 9", "coreutils"),
        ("coreutils-single", "coreutils-single"),
        ("python3-3.12.1", "python3"),
        ("nginx-1:1.26*", "nginx"),
    ],
)
def test_the_name_a_spec_stands_for_before_anything_is_installed(spec: str, name: str) -> None:
    """The shortest candidate; the spec itself is one too (a name may end in -<digit>)."""
    assert spec in specs.names_in(spec) or specs.versioned(spec)
    assert specs.names_in(spec)[-1] == name


@pytest.mark.parametrize(
    "good",
    [
        "busybox-1.35.0-1.fc40",
        "busybox-1.35.0-1.fc40.x86_64",
        "bash.x86_64",
        "nginx-mod-*",
        "*-devel",
        "glibc-langpack-[a-d]?",
        "libssl.so.3()(64bit)",
        "glibc >= 2.36",
        "pkgconfig(zlib) < 1:2.0-1",
        "gmp-6.2.1+dfsg1",
        "foo-1.0~rc1^git1",
    ],
)
def test_every_form_dnf_accepts_passes(good: str) -> None:
    assert validate.check_packages([good]) == [good]


@pytest.mark.parametrize(
    "bad",
    ["glibc>=2.36", "glibc  >= 2.36", "glibc >= ", "-x >= 1", "a >= -1", "x\n", "a >= 1\n", "a,b"],
)
def test_spaces_and_comparisons_only_in_the_name_op_version_form(bad: str) -> None:
    with pytest.raises(BuildError, match="invalid package name"):
        validate.check_packages([bad])


def test_rpm_queries_end_options_before_the_spec() -> None:
    argv = rpmdb.query_argv("/m", "/usr/lib/sysimage/rpm", "glibc", whatprovides=True, qf="Q")
    assert argv == [
        "rpm",
        "--root=/m",
        "--dbpath=/usr/lib/sysimage/rpm",
        "-q",
        "--whatprovides",
        "--qf",
        "Q",
        "--",
        "glibc",
    ]


def test_an_unsatisfied_spec_fails_the_build_naming_it() -> None:
    require_satisfied(["bash", "/bin/sh"], {"bash": ["bash"], "/bin/sh": ["bash"]})
    with pytest.raises(BuildError, match=r"^install\('nginx >= 1.2'\): no package"):
        require_satisfied(["bash", "nginx >= 1.2"], {"bash": ["bash"], "nginx >= 1.2": []})
