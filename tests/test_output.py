"""The output shapes as data: step lines, the console and JSON renderers, a forked build's
relayed lines, plurals and sizes, usage errors as JSON, --version and a help text for every
option of every command."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from collections.abc import Iterator

import pytest
import structlog

from buildahpy import __main__ as cli
from buildahpy import commands, log


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys
    structlog.reset_defaults()


def test_a_shown_step_is_one_line_with_its_note_and_time(
    logs: pytest.CaptureFixture[str],
) -> None:
    log.configure()
    with log.recipe_context("nginx"):
        with log.step("dnf install", show=True, packages="nginx") as note:
            note.detail = "12 packages (nginx)"
        with log.step("create container"):
            pass
    assert logs.readouterr().err == "nginx  dnf install   12 packages (nginx)  0.0 s\n"


def test_verbose_adds_starts_ends_and_times(logs: pytest.CaptureFixture[str]) -> None:
    log.configure(verbose=True)
    with log.recipe_context("nginx"), log.step("create container"):
        log.get_logger().debug("run", cmd="buildah from scratch", _text="$ buildah from scratch")
    lines = logs.readouterr().err.splitlines()
    assert [line[13:] for line in lines] == [
        "nginx  start  step='create container'",
        "nginx  $ buildah from scratch",
        "nginx  done  step='create container'  seconds=0.0",
    ]
    assert all(line[2] == ":" and line[12] == " " for line in lines)


def test_quiet_keeps_only_warnings_and_errors(logs: pytest.CaptureFixture[str]) -> None:
    log.configure(quiet=True)
    with log.step("commit", show=True):
        log.get_logger().info("size report", _text="localhost/x: 1 MB")
    log.get_logger().warning("cleanup failed", cause="busy")
    log.error_line("x: it broke")
    assert logs.readouterr().err == "warning: cleanup failed  cause=busy\nbuildahpy: x: it broke\n"


def test_json_lines_carry_the_fields_not_the_console_text(
    logs: pytest.CaptureFixture[str],
) -> None:
    log.configure(fmt="json")
    with log.recipe_context("web"), log.step("commit", show=True):
        pass
    log.get_logger().info("summary", totals={"built": 1}, _json=True)
    log.error_line("web: it broke")
    events = [json.loads(line) for line in logs.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["step", "summary", "error"]
    assert events[0]["recipe"] == "web" and events[0]["step"] == "commit"
    assert not any(key.startswith("_") for e in events for key in e)
    assert events[2] == {**events[2], "level": "error", "message": "web: it broke"}


def test_json_only_events_stay_off_the_console(logs: pytest.CaptureFixture[str]) -> None:
    log.configure()
    log.get_logger().info("summary", totals={}, _json=True)
    assert logs.readouterr().err == ""


def test_a_forked_builds_lines_are_shown_as_the_parent_renders_them(
    logs: pytest.CaptureFixture[str],
) -> None:
    log.configure(fmt="relay")
    with log.recipe_context("web"), log.step("commit", show=True):
        pass
    relayed = logs.readouterr().err.splitlines()
    assert len(relayed) == 1 and json.loads(relayed[0])["_text"].startswith("commit")
    log.configure()
    log.replay(relayed[0], "web")
    log.replay("Traceback (most recent call last):", "web")  # what a child printed itself
    assert logs.readouterr().err.splitlines() == [
        "web  commit        0.0 s",
        "web  Traceback (most recent call last):",
    ]
    log.configure(fmt="json")
    log.replay("printed by the recipe", "web")
    (event,) = [json.loads(line) for line in logs.readouterr().err.splitlines()]
    assert event["event"] == "output" and event["line"] == "printed by the recipe"
    assert event["recipe"] == "web"


def test_counts_and_sizes_read_right() -> None:
    assert log.plural(1, "package") == "1 package"
    assert log.plural(0, "package") == "0 packages"
    assert log.plural(2, "distinct package") == "2 distinct packages"
    assert log.human_size(9_810_000) == "9.81 MB" and log.human_size(999) == "999 B"


def test_a_usage_error_is_json_when_json_was_asked(
    logs: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.parse_args(["--log-format", "json", "--jobs", "x", "f.py"])
    assert stopped.value.code == 2
    (event,) = [json.loads(line) for line in logs.readouterr().err.splitlines()]
    assert event["event"] == "error" and "--jobs" in event["message"]
    with pytest.raises(SystemExit):
        cli.parse_args(["--jobs", "x", "f.py"])
    assert "usage: buildahpy" in logs.readouterr().err


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--version"], ["gc", "--version"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert capsys.readouterr().out == f"buildahpy {importlib.metadata.version('buildahpy')}\n"


@pytest.mark.parametrize("command", ["", "gc", "sbom", "lock", "repos"])
def test_every_option_of_every_command_has_a_help_text(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        seen.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(commands.Parser, "parse_args", capture)
    with pytest.raises(SystemExit):
        cli.main([command] if command else ["f.py"])
    (parser,) = seen
    missing = [a.dest for a in parser._actions if not a.help or a.help == argparse.SUPPRESS]
    assert missing == [], f"buildahpy {command}: no help for {missing}"
