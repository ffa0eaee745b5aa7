"""A build that ran out of space names the full filesystem, whatever step or tool hit it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from buildahpy.build import nospace
from buildahpy.errors import BuildError, CommandError
from buildahpy.host import space

COMMIT = (
    'writing blob: adding layer with blob "sha256:6a94": processing tar file(write /big: no space'
    " left on device): exit status 1"
)


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A storage at tmp_path/graph with 4 kB free; every other place has plenty."""
    root = tmp_path / "graph"
    monkeypatch.setattr(nospace, "storage_root", lambda: str(root))
    monkeypatch.setattr(space, "free_bytes", lambda path: 4096 if path == str(root) else 10**12)
    return root


def test_a_commit_that_ran_out_names_the_storage(graph: Path) -> None:
    error = CommandError(["buildah", "commit", "x"], 1, COMMIT, hint="buildah commit failed")
    with pytest.raises(CommandError) as raised, nospace.explaining(None):
        raise error
    assert (
        raised.value.hint
        == f"no space left on device for the containers storage {graph} (4.1 kB free)"
    )
    assert str(raised.value).endswith("exit status 1")


def test_other_tool_errors_pass_unchanged(graph: Path) -> None:
    error = CommandError(["buildah", "tag", "x"], 125, "image not known", hint="cannot tag")
    with pytest.raises(CommandError) as raised, nospace.explaining(None):
        raise error
    assert raised.value is error


def test_an_explained_error_is_not_explained_again(graph: Path, tmp_path: Path) -> None:
    hint = f"no space left on device for the dnf cache {tmp_path} (1 B free)"
    error = CommandError(["dnf"], 1, "Curl error (23)", hint=hint)
    with pytest.raises(CommandError) as raised, nospace.explaining(tmp_path):
        raise error
    assert raised.value is error


def test_our_own_full_write_names_the_storage_and_the_file(graph: Path) -> None:
    with pytest.raises(BuildError) as raised, nospace.explaining(None):
        raise OSError(errno.ENOSPC, "No space left on device", f"{graph}/overlay/x/merged/etc/a")
    assert str(raised.value) == (
        f"cannot write {graph}/overlay/x/merged/etc/a: no space left on device for the containers "
        f"storage {graph} (4.1 kB free)"
    )


def test_other_os_errors_pass_unchanged(graph: Path) -> None:
    with pytest.raises(PermissionError), nospace.explaining(None):
        raise PermissionError(errno.EACCES, "Permission denied", "/x")


def test_a_recipe_that_filled_the_disk_itself(graph: Path) -> None:
    cause = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(BuildError) as raised, nospace.explaining(None):
        raise BuildError("recipe.py:4: OSError: [Errno 28] No space left on device") from cause
    assert str(raised.value).endswith(
        f"; no space left on device for the containers storage {graph} (4.1 kB free)"
    )
    assert raised.value.__cause__ is cause  # the recipe's traceback, with -v


def test_a_rootfs_below_the_graphroot_is_the_storage(graph: Path, tmp_path: Path) -> None:
    assert nospace.image_place(graph / "overlay/x/merged") == (nospace.STORAGE, str(graph))
    assert nospace.image_place(tmp_path / "elsewhere") == ("the image", str(tmp_path / "elsewhere"))


def test_a_write_that_failed_otherwise_keeps_its_words(graph: Path) -> None:
    exc = OSError(errno.EROFS, "Read-only file system")
    assert str(nospace.explained_write("cannot write /a in the image", exc, [])) == (
        "cannot write /a in the image: Read-only file system"
    )
