"""image.query: a read-only command run again while buildah's chroot runner drops its output."""

from __future__ import annotations

from typing import Any

import pytest

from buildahpy.api.image import DryEngine, Image
from buildahpy.errors import BuildError
from buildahpy.host import buildah
from buildahpy.host.tools import Completed


def fake_runs(monkeypatch: pytest.MonkeyPatch, outputs: list[tuple[str, str]]) -> list[Any]:
    calls: list[Any] = []

    def run(argv: list[str], **kwargs: Any) -> Completed:
        calls.append(argv)
        stdout, stderr = outputs[len(calls) - 1]
        return Completed(argv=tuple(argv), stdout=stdout, stderr=stderr)

    monkeypatch.setattr(buildah, "run", run)
    return calls


def test_a_silent_query_runs_again_until_it_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_runs(monkeypatch, [("", ""), ("sh\nls\n", "")])
    assert buildah.query_in("c", ["/bin/busybox", "--list"]) == "sh\nls\n"
    assert calls == [buildah.run_argv("c", ["/bin/busybox", "--list"])] * 2


def test_a_query_that_prints_to_stderr_only_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = fake_runs(monkeypatch, [("", "warning\n"), ("never", "")])
    assert buildah.query_in("c", ["/bin/true"]) == ""
    assert len(calls) == 1


def test_a_query_that_stays_silent_gives_up_after_three_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = fake_runs(monkeypatch, [("", "")] * 5)
    assert buildah.query_in("c", ["/bin/true"]) == ""
    assert len(calls) == buildah.QUERY_ATTEMPTS == 3


def test_run_is_never_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_runs(monkeypatch, [("", ""), ("x", "")])
    assert buildah.run_in("c", ["/bin/touch", "/x"]) == ""
    assert len(calls) == 1


def test_query_checks_its_argv_and_is_a_step() -> None:
    image = Image(DryEngine())
    with pytest.raises(BuildError, match="query: argv must be a non-empty list"):
        image.query("busybox --list")  # type: ignore[arg-type]
    image.query(["/usr/sbin/busybox", "--list"])
    assert image.steps[-1] == "query /usr/sbin/busybox --list"
