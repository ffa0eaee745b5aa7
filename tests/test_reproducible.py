"""Reproducible builds without building: the timestamp rule, the rootfs normalisation, the
tree comparison, the commit command line and the inputs digest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_inputs import HOST, digest, src, write  # noqa: F401  (src is a fixture)

from buildahpy.api.recipe import load_file
from buildahpy.build import reproducible
from buildahpy.errors import UsageError
from buildahpy.fleet import inputs
from buildahpy.host import buildah, imagetree
from buildahpy.host.rootfs import RootFS
from buildahpy.plan import timestamp
from buildahpy.plan.plan import Options


def test_source_date_epoch_wins_over_the_packages() -> None:
    decided = timestamp.decide(1700000000, [1800000000, 1600000000])
    assert decided == timestamp.Timestamp(1700000000, timestamp.FROM_ENV)
    assert decided.rfc3339 == "2023-11-14T22:13:20Z"


def test_without_it_the_newest_buildtime_and_never_the_clock() -> None:
    assert timestamp.decide(None, [5, 1700000000, 42]).epoch == 1700000000
    assert timestamp.decide(None, []) == timestamp.Timestamp(0, timestamp.NO_PACKAGES)
    assert timestamp.install_epoch(None) == 0
    assert timestamp.install_epoch(77) == 77


@pytest.mark.parametrize("value", ["soon", "-1", "1.5"])
def test_a_source_date_epoch_that_is_no_number_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        timestamp.from_environ({"SOURCE_DATE_EPOCH": value})
    assert timestamp.from_environ({"SOURCE_DATE_EPOCH": " "}) is None
    assert timestamp.from_environ({"SOURCE_DATE_EPOCH": "12"}) == 12


def test_commit_is_stamped_with_the_timestamp() -> None:
    argv = buildah.commit_argv("c1", "/w/iid", "localhost/c1:pending", timestamp=1700000000)
    assert "--timestamp=1700000000" in argv
    assert argv[-2:] == ["c1", "localhost/c1:pending"]
    assert not [a for a in buildah.commit_argv("c1", "/w/iid") if a.startswith("--timestamp")]


def test_shadow_last_change_is_clamped_to_the_timestamp_day() -> None:
    text = "root:*:19700:0:99999:7:::\nsvc:!!:100::::::\nodd\nnobody:*::0:::::\n"
    day = timestamp.days(1700000000)  # 19675
    assert reproducible.clamp_shadow(text, day) == (
        "root:*:19675:0:99999:7:::\nsvc:!!:100::::::\nodd\nnobody:*::0:::::\n"
    )


def tree(root: Path) -> None:
    (root / "etc").mkdir()
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "etc/shadow").write_text("root:*:99999:0:99999:7:::\n")
    (root / "etc/shadow").chmod(0)
    (root / "var/cache/ldconfig").mkdir(parents=True)
    (root / "var/cache/ldconfig/aux-cache").write_bytes(b"\x00time")
    (root / "old").write_text("from a package")
    os.utime(root / "old", (1000, 1000))


def test_normalise_removes_random_state_and_clamps_every_mtime(tmp_path: Path) -> None:
    outside = tmp_path / "host-file"
    outside.write_text("host")
    os.utime(outside, (2_000_000_000, 2_000_000_000))
    root = tmp_path / "root"
    root.mkdir()
    tree(root)
    (root / "link").symlink_to(outside)  # must not be followed onto the host
    with RootFS(root) as fs:
        done = reproducible.normalise(fs, 1700000000)
    assert done["removed"] == ["/var/cache/ldconfig/aux-cache", "/etc/machine-id"]
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "etc/shadow").read_text() == "root:*:19675:0:99999:7:::\n"
    assert (root / "etc/shadow").stat().st_mode & 0o7777 == 0
    for path in (root, root / "etc", root / "etc/shadow", root / "var/cache/ldconfig"):
        assert path.lstat().st_mtime == 1700000000, path
    assert (root / "link").lstat().st_mtime == 1700000000
    assert (root / "old").stat().st_mtime == 1000  # older than the timestamp: kept
    assert outside.stat().st_mtime == 2_000_000_000


def test_tree_comparison_names_each_path_and_what_differs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        (root / "same").write_text("x")
        (root / "mode").write_text("m")
        os.utime(root / "same", (10, 10))
    (a / "content").write_text("1")
    (b / "content").write_text("2")
    (b / "mode").chmod(0o600)
    (a / "only-a").symlink_to("/nowhere")
    for root in (a, b):
        for name in ("content", "mode"):
            os.utime(root / name, (10, 10))
        os.utime(root, (10, 10))
    os.utime(b / "same", (11, 11))
    found = imagetree.differences(imagetree.snapshot(a), imagetree.snapshot(b))
    assert found == [
        ("/content", ["content"]),
        ("/mode", ["mode"]),
        ("/only-a", ["only in the first"]),
        ("/same", ["mtime"]),
    ]


APP = """
from buildahpy import recipe

@recipe("localhost/app")
def app(image):
    image.write_file("/etc/motd", "hi")
"""


def test_the_private_tag_is_no_input_of_the_image(src: Path) -> None:  # noqa: F811
    entry = load_file(write(src / "r.py", APP))[0]
    repos = (src / "test.repo",)
    private = Options(repo_files=repos, tag_as="localhost/buildahpy-check-{name}:x")
    plain = inputs.recipe_inputs(entry, Options(repo_files=repos), HOST, "")
    assert plain is not None
    assert inputs.recipe_inputs(entry, private, HOST, "") == plain


def test_source_date_epoch_is_an_input(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    path = write(src / "r.py", APP)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    unset = digest(path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert digest(path) not in (None, unset)
