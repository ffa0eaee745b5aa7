"""``buildahpy diff`` and ``buildahpy why`` as data: package changes in rpm's version order,
config, label and file changes, the text and JSON, and where why-chains start."""

from __future__ import annotations

import json
import stat

import pytest

from buildahpy.build import diff
from buildahpy.build.image_facts import ImageFacts
from buildahpy.errors import BuildError
from buildahpy.host.imagetree import Entry, differences
from buildahpy.plan import imagediff, minimize
from buildahpy.plan.labels import LABEL_BASE_PACKAGES, LABEL_REQUESTED
from buildahpy.plan.packages import Header, Package


def pkg(
    name: str,
    version: str = "1.0",
    release: str = "1.fc40",
    *,
    epoch: int = 0,
    arch: str = "x86_64",
    size: int = 100,
    requires: tuple[str, ...] = (),
    digest: str = "h",
) -> Package:
    header = Header(epoch, version, release, arch, sha256header=digest)
    files = ((f"/usr/lib/{name}", size, 0, "normal", "", 1),)
    return Package(
        name,
        f"{name}-{version}-{release}.{arch}",
        size,
        tuple((r, 0) for r in requires),
        (),
        (),
        files,
        header,
    )


def size(package: Package) -> int:
    return package.size


def changes(old: list[Package], new: list[Package]) -> dict[str, imagediff.PackageChange]:
    found = imagediff.package_changes({p.name: p for p in old}, {p.name: p for p in new}, size)
    return {c.name: c for c in found}


def test_packages_added_removed_and_unchanged() -> None:
    found = changes([pkg("bash"), pkg("zlib", size=50)], [pkg("bash"), pkg("busybox", size=900)])
    assert set(found) == {"zlib", "busybox"}  # bash is the same package: not listed
    assert (found["busybox"].kind, found["busybox"].new, found["busybox"].delta) == (
        "added",
        "busybox-1.0-1.fc40.x86_64",
        900,
    )
    assert (found["zlib"].kind, found["zlib"].old, found["zlib"].delta) == (
        "removed",
        "zlib-1.0-1.fc40.x86_64",
        -50,
    )


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (pkg("a", "1.9"), pkg("a", "1.10"), "upgraded"),  # numbers, not text: 10 > 9
        (pkg("a", "1.0"), pkg("a", "1.0~rc1"), "downgraded"),  # a pre-release is older
        (pkg("a", "2.0"), pkg("a", "1.0", epoch=1), "upgraded"),  # the epoch wins
        (pkg("a", release="2.fc40"), pkg("a", release="10.fc40"), "upgraded"),
        (pkg("a", "1.0^git1"), pkg("a", "1.0"), "downgraded"),  # a snapshot after the release
        (pkg("a", digest="one"), pkg("a", digest="two"), "rebuilt"),  # same NEVRA, other build
        (pkg("a", arch="i686"), pkg("a"), "rebuilt"),
    ],
)
def test_versions_are_ordered_as_rpm_orders_them(old: Package, new: Package, kind: str) -> None:
    assert changes([old], [new])["a"].kind == kind


def test_an_epoch_shows_in_the_names() -> None:
    found = changes([pkg("a")], [pkg("a", epoch=2, size=130)])["a"]
    assert (found.old, found.new, found.delta) == (
        "a-1.0-1.fc40.x86_64",
        "a-2:1.0-1.fc40.x86_64",
        30,
    )


def test_config_changes_field_by_field() -> None:
    old = {
        "Entrypoint": ["/bin/sh"],
        "Env": ["PATH=/usr/bin", "A=1"],
        "ExposedPorts": {"80/tcp": {}},
        "User": "",
        "Labels": {"x": "1"},
    }
    new = {
        "Entrypoint": ["/bin/bash"],
        "Env": ["PATH=/usr/bin", "A=2", "B=3"],
        "ExposedPorts": {"443/tcp": {}},
        "User": "nginx",
        "Labels": {"x": "1"},
    }
    found = {(c.key, c.old, c.new) for c in imagediff.config_changes(old, new)}
    assert found == {
        ("entrypoint", '["/bin/sh"]', '["/bin/bash"]'),
        ("user", None, "nginx"),  # an empty user is no user
        ("env A", "1", "2"),
        ("env B", None, "3"),
        ("port 80/tcp", "set", None),
        ("port 443/tcp", None, "set"),
    }
    assert imagediff.config_changes(old, old) == []


def test_label_changes() -> None:
    found = imagediff.label_changes({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"})
    assert [(c.key, c.old, c.new) for c in found] == [("b", "2", "3"), ("c", None, "4")]


def entry(mode: int, content: str, mtime: int = 1, size: int = 0) -> Entry:
    return Entry(mode, 0, 0, mtime, content, (), size)


FILE, EXE = stat.S_IFREG | 0o644, stat.S_IFREG | 0o755


def test_file_changes_leave_out_a_change_of_mtime_alone() -> None:
    old = {
        "/etc/a": entry(FILE, "x", size=1),
        "/usr/bin/b": entry(FILE, "y", size=2),
        "/gone": entry(FILE, "z"),
        "/touched": entry(FILE, "same", mtime=1),
    }
    new = {
        "/etc/a": entry(FILE, "xx", size=2),
        "/usr/bin/b": entry(EXE, "y", size=2),
        "/new": entry(EXE, "n", size=5),
        "/touched": entry(FILE, "same", mtime=2),
    }
    sides = [{p: (e.mode, e.size) for p, e in tree.items()} for tree in (old, new)]
    found = {c.path: c for c in imagediff.file_changes(differences(old, new), *sides)}
    assert set(found) == {"/etc/a", "/usr/bin/b", "/gone", "/new"}
    assert found["/etc/a"].what == ("content",)
    assert (found["/etc/a"].old_size, found["/etc/a"].new_size) == (1, 2)
    assert found["/usr/bin/b"].what == ("mode",)
    assert (found["/gone"].what, found["/new"].what) == (("removed",), ("added",))
    lines = [diff._file_line(c) for c in found.values()]
    assert "  changed  /usr/bin/b: mode 0644 -> 0755" in lines
    assert "  added    /new 0755 5 B" in lines


def facts(
    reference: str, packages: list[Package], labels: dict[str, str], size: int = 1000
) -> ImageFacts:
    config = {"Labels": labels, "Env": [f"SIZE={size}"]}
    return ImageFacts(
        reference,
        reference[0] * 64,  # an id the reference is not a prefix of
        config,
        "/usr/lib/sysimage/rpm",
        {p.name: p for p in packages},
        size,
    )


def test_the_text_and_the_json_say_the_same() -> None:
    old = facts("old", [pkg("bash"), pkg("zlib")], {"v": "1"}, 1000)
    new = facts("new", [pkg("bash", "5.2"), pkg("busybox", size=2000)], {"v": "2"}, 3000)
    found = diff.compare(old, new)
    text = diff.lines(found)
    assert text[0] == "old (oooooooooooo) -> new (nnnnnnnnnnnn)"
    assert text[1] == "size: 1 kB -> 3 kB (+2 kB); packages: 2 -> 2 (+1.9 kB)"
    assert "packages: 1 added, 1 removed, 1 upgraded, 0 downgraded, 0 rebuilt" in text
    assert "  upgraded   bash-1.0-1.fc40.x86_64 -> bash-5.2-1.fc40.x86_64  +0 B" in text
    assert "  env SIZE: 1000 -> 3000" in text
    assert "  v: 1 -> 2" in text
    document = json.loads(json.dumps(found.as_json()))
    assert document["size_delta"] == 2000
    assert document["package_size_delta"] == 1900
    assert {c["name"]: c["kind"] for c in document["packages"]} == {
        "bash": "upgraded",
        "busybox": "added",
        "zlib": "removed",
    }
    assert "files" not in document


def test_top_growth_is_largest_first() -> None:
    found = list(changes([pkg("a", size=10)], [pkg("a", "2", size=40), pkg("b", size=20)]).values())
    assert [c.name for c in imagediff.top_growth(found)] == ["a", "b"]
    assert imagediff.top_growth(found, 1)[0].delta == 30


IMAGE = [
    pkg("nginx", requires=("libssl", "nginx-filesystem")),
    pkg("libssl", requires=("glibc",)),
    pkg("nginx-filesystem"),
    pkg("glibc", requires=("glibc-common",)),
    pkg("glibc-common", requires=("glibc",)),
    pkg("tool"),
]


def test_why_starts_at_what_the_labels_say_was_asked_for() -> None:
    image = facts("img", IMAGE, {LABEL_REQUESTED: "nginx", LABEL_BASE_PACKAGES: "glibc tool"})
    roots, reasons, note = diff.roots_of(image)
    assert (roots, note) == (["nginx", "glibc", "tool"], "")
    reached = minimize.runtime_closure(image.packages, roots, weak=False)
    assert minimize.why(reached, "libssl", reasons) == "libssl (libssl) <- nginx (requested)"
    assert minimize.why(reached, "glibc", reasons) == "glibc (in the base image)"


def test_without_the_label_why_starts_at_the_leaves_and_says_so() -> None:
    image = facts("foreign", IMAGE, {})
    roots, reasons, note = diff.roots_of(image)
    assert roots == ["nginx", "tool"]
    assert "no io.buildahpy.requested label" in note
    reached = minimize.runtime_closure(image.packages, roots, weak=False)
    assert minimize.why(reached, "glibc-common", reasons) == (
        "glibc-common (glibc-common) <- glibc (glibc) <- libssl (libssl) <- nginx "
        "(nothing requires it)"
    )


def test_a_cycle_nothing_else_needs_still_gets_a_root() -> None:
    packages = {p.name: p for p in [pkg("a", requires=("b",)), pkg("b", requires=("a",))]}
    assert minimize.leaves(packages) == ["a"]
    assert set(minimize.runtime_closure(packages, ["a"], weak=False)) == {"a", "b"}


def test_who_needs_a_package() -> None:
    packages = {p.name: p for p in IMAGE}
    assert minimize.required_by(packages, "glibc") == [
        ("glibc-common", "glibc"),
        ("libssl", "glibc"),
    ]


def test_an_unknown_package_is_one_line_naming_it() -> None:
    packages = {p.name: p for p in IMAGE}
    assert diff.find_package(packages, "libssl-1.0-1.fc40.x86_64", "img") == "libssl"
    with pytest.raises(BuildError, match=r"^img: package 'ngnix' is not installed in the image$"):
        diff.find_package(packages, "ngnix", "img")
