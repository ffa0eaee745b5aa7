"""Many images per run: bases first and once, up to N builds at a time, past failures.

With ``--jobs 1`` builds run one after another in this process, exactly as a single build does.
With more, each build runs in its own process, a fork of this one. Processes rather than threads:
a build mostly waits on its tools anyway, and a process gives what threads cannot: recipe code
(arbitrary Python: os.chdir, environment edits, a crash) cannot touch another build; each build
keeps the single build's tested cleanup, its SIGINT/SIGTERM handling included; a stuck build can
be stopped on its own. A fork rather than ``python -m buildahpy.fleet.worker`` through subprocess:
the child already has every module and the recipe loaded, where a fresh interpreter spends
0.38 s per build importing them (measured; 20 builds on 2 CPUs lose 4 s to it). The child
touches nothing of the parent's: it writes its log and outcome in the run's directory and leaves
with os._exit.

On SIGINT/SIGTERM the scheduler sends SIGTERM to every running build and waits for each to remove
its container, then exits 130/143. Every tool is started by the builds, via tools.py.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.build.context import BuildResult
from buildahpy.errors import BuildahpyError, stderr_tail
from buildahpy.fleet.graph import Node
from buildahpy.fleet.jobs import Decision, Waiting
from buildahpy.fleet.tagwait import TagWaits
from buildahpy.fleet.worker import Job, Outcome, build_in_child, run_job, unexpected_error
from buildahpy.host import features
from buildahpy.log import get_logger
from buildahpy.privilege import tags

PENDING, QUEUED, RUNNING = "pending", "queued", "running"
WAITING = "waiting"  # for a base another shard builds to appear in the registry
BLOCKED = "blocked"  # its tag, or its base image, is being built by another run (tagwait.py)
BUILT, UP_TO_DATE, FAILED, SKIPPED = "built", "up-to-date", "failed", "skipped"
FINAL = (BUILT, UP_TO_DATE, FAILED, SKIPPED)
REGISTRY = "registry"  # an up-to-date image's source when it is only in the registry
# How long a worker gets to clean up after SIGTERM (it stops its dnf first, which gets 20 s).
_STOP_GRACE_SECONDS = 60.0
_POLL_SECONDS = 0.05
_REGISTRY_POLL_SECONDS = 2.0
_TAG_POLL_SECONDS = 0.5  # a waiter takes over this long after the other run let go (or died)


@attrs.define
class Entry:
    node: Node
    status: str = PENDING
    image_id: str = ""
    inputs: str | None = None
    job: Job | None = None
    result: BuildResult | None = None
    error: str = ""
    seconds: float = 0.0
    started: float = 0.0
    warnings: tuple[str, ...] = ()  # undo steps that failed after the error
    source: str = ""  # REGISTRY: up to date there (remote.py)
    deadline: float = 0.0  # WAITING: when to give up
    polled: float = 0.0  # WAITING: when the registry was last asked

    @property
    def name(self) -> str:
        return self.node.name


class Executor(Protocol):
    capacity: int

    def start(self, name: str, job: Job) -> None: ...
    def running(self) -> list[str]: ...
    def wait(self, timeout: float | None = None) -> list[tuple[str, Outcome]]: ...
    def stop(self) -> None: ...


class InlineExecutor:
    """One build at a time, in this process (``--jobs 1``): logs stream as they happen."""

    capacity = 1

    def __init__(self, recipes: Iterable[Recipe]) -> None:
        self.recipes = {entry.name: entry for entry in recipes}
        self.done: list[tuple[str, Outcome]] = []

    def start(self, name: str, job: Job) -> None:
        self.done.append((name, run_job(job, self.recipes[name])))

    def running(self) -> list[str]:
        return [name for name, _ in self.done]

    def wait(self, timeout: float | None = None) -> list[tuple[str, Outcome]]:
        done, self.done = self.done, []
        return done

    def stop(self) -> None:
        """Nothing runs in the background: an interrupted build cleaned up as it unwound."""


class ForkExecutor:
    """Up to ``capacity`` builds, each in a forked copy of this process (see the module's
    docstring); each one's output goes to its log in ``rundir``."""

    def __init__(
        self,
        capacity: int,
        rundir: Path,
        recipes: Iterable[Recipe],
        *,
        tick: Callable[[], None] = lambda: None,
        relay: Callable[[str, list[str]], None] = lambda name, lines: None,
    ) -> None:
        self.capacity, self.rundir, self.tick, self.relay = capacity, rundir, tick, relay
        self.recipes = {entry.name: entry for entry in recipes}
        self.pids: dict[str, int] = {}
        self.read: dict[str, int] = {}  # how far each build's log has been relayed
        features.warm()  # each fork inherits the probe's answer

    def start(self, name: str, job: Job) -> None:
        sys.stdout.flush()  # or the child would write our buffered output again
        sys.stderr.flush()
        # A thread alive at fork time is gone in the child with any lock it held. Ours has none
        # left but sh's cancelled output timers, which end within moments: let them.
        for thread in threading.enumerate():
            if thread is not threading.current_thread():
                thread.join(timeout=1.0)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            tags.close_inherited(self.recipes[name].tag)
            build_in_child(job, self.recipes[name], self.rundir / f"{name}.log", self.outcome(name))
        self.pids[name] = pid

    def outcome(self, name: str) -> Path:
        return self.rundir / f"{name}.outcome"

    def running(self) -> list[str]:
        return list(self.pids)

    def wait(self, timeout: float | None = None) -> list[tuple[str, Outcome]]:
        """Block until at least one build has exited (or ``timeout`` seconds have passed);
        return the outcomes of those that did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pids and (deadline is None or time.monotonic() < deadline):
            done = [(name, status) for name, status in self.reap() if status is not None]
            if done:
                return [(name, self.collect(name, status)) for name, status in done]
            for name in self.pids:
                self.follow(name)
            self.tick()
            time.sleep(_POLL_SECONDS)
        return []

    def follow(self, name: str, *, final: bool = False) -> None:
        """Relay the whole lines a build has added to its log since last time (all that is
        left, once it has exited)."""
        try:
            with (self.rundir / f"{name}.log").open("rb") as handle:
                handle.seek(self.read.get(name, 0))
                data = handle.read()
        except FileNotFoundError:
            return
        end = len(data) if final else data.rfind(b"\n") + 1
        if end:
            self.read[name] = self.read.get(name, 0) + end
            self.relay(name, data[:end].decode(errors="replace").splitlines())

    def reap(self) -> list[tuple[str, int | None]]:
        found: list[tuple[str, int | None]] = []
        for name, pid in self.pids.items():
            reaped, status = os.waitpid(pid, os.WNOHANG)
            found.append((name, os.waitstatus_to_exitcode(status) if reaped else None))
        return found

    def collect(self, name: str, code: int) -> Outcome:
        del self.pids[name]
        self.follow(name, final=True)
        if self.outcome(name).exists():
            with self.outcome(name).open("rb") as handle:
                outcome: Outcome = pickle.load(handle)
            return outcome
        log_text = (self.rundir / f"{name}.log").read_text(errors="replace")
        tail = stderr_tail("\n".join(map(_plain, log_text.splitlines()))) or "no output"
        return Outcome(error=f"the build's process exited {code}: {tail}", exit_code=1)

    def stop(self) -> None:
        """SIGTERM every build, then wait: each removes its own container and mount."""
        for pid in self.pids.values():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while self.pids and time.monotonic() < deadline:
            for name, status in self.reap():
                if status is not None:
                    del self.pids[name]
            time.sleep(_POLL_SECONDS)
        for pid in self.pids.values():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.pids.clear()


def _plain(line: str) -> str:
    """A build log's line as the console shows it (the log holds JSON records, see log.py)."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    return str(record.get("_text") or record.get("message") or record.get("event") or line)


class Decider(Protocol):
    """jobs.Preparer: up to date or a job, once the base is settled."""

    def external_base(self, reference: str) -> str: ...
    def decide(self, node: Node, base_id: str | None) -> Decision: ...


class Reporter(Protocol):
    def started(self, entry: Entry) -> None: ...
    def finished(self, entry: Entry) -> None: ...


def schedule(
    nodes: Iterable[Node],
    preparer: Decider,
    executor: Executor,
    reporter: Reporter,
    waits: TagWaits | None = None,
) -> list[Entry]:
    """Run every node: bases before dependents, up to ``executor.capacity`` at once; with
    ``waits``, each tag only while no other run on the storage settles it."""
    entries = {node.name: Entry(node) for node in nodes}
    try:
        while True:
            decide_ready(entries, preparer, reporter, waits)
            start_queued(entries, executor, reporter)
            if waits is not None:  # and those waiting for another shard: that may take long
                waits.settle(e.name for e in entries.values() if e.status in (*FINAL, WAITING))
            poll = _poll_seconds(entries.values())
            if not executor.running():
                if poll is None:
                    break
                time.sleep(poll)
                continue
            for name, outcome in executor.wait(poll) if poll else executor.wait():
                finish(entries[name], outcome, reporter)
    except BaseException:
        executor.stop()
        raise
    finally:
        if waits is not None:
            waits.close()
    for entry in entries.values():  # only a bug leaves one behind; say so rather than hang
        if entry.status not in FINAL:
            entry.status, entry.error = FAILED, "never started (scheduler error)"
    return list(entries.values())


def _poll_seconds(entries: Iterable[Entry]) -> float | None:
    """How long the scheduler may wait for a build before it looks again at the entries that
    wait (None: none does)."""
    found = {entry.status for entry in entries}
    if BLOCKED in found:
        return _TAG_POLL_SECONDS
    return _REGISTRY_POLL_SECONDS if WAITING in found else None


def decide_ready(
    entries: dict[str, Entry],
    preparer: Decider,
    reporter: Reporter,
    waits: TagWaits | None = None,
) -> None:
    """Settle every pending entry whose base is settled: skipped, up to date, or queued."""
    for entry in entries.values():
        due = entry.status == WAITING and time.monotonic() >= entry.polled + _REGISTRY_POLL_SECONDS
        if entry.status not in (PENDING, BLOCKED) and not due:
            continue
        base = entries.get(entry.node.base_recipe or "")
        if base is not None and base.status in (FAILED, SKIPPED):
            entry.status, entry.error = SKIPPED, f"base {base.name} {base.status}"
            reporter.finished(entry)
            continue
        if base is not None and base.status not in (BUILT, UP_TO_DATE):
            continue
        node = entry.node
        try:
            if waits is not None and not waits.ready(entry.name, node.recipe.tag, node.base_image):
                entry.status = BLOCKED
                continue
            base_id = base.image_id if base else None
            if entry.node.base_image:
                base_id = preparer.external_base(entry.node.base_image)
            decision = preparer.decide(entry.node, base_id)
        except BuildahpyError as exc:
            fail(entry, str(exc), reporter)
            continue
        except Exception as exc:  # as a build's (worker.run_job): one line, the traceback with -v
            get_logger().debug("unexpected error", exc_info=exc)
            fail(entry, unexpected_error(exc, "prepare"), reporter)
            continue
        entry.inputs = decision.inputs
        if decision.wait is not None:
            wait_for(entry, decision.wait, reporter)
        elif decision.up_to_date is not None:
            entry.status, entry.image_id = UP_TO_DATE, decision.up_to_date.id
            entry.source = REGISTRY if decision.remote else ""
            if entry.started:  # how long it waited for another shard
                entry.seconds = round(time.monotonic() - entry.started, 1)
            reporter.finished(entry)
        else:
            entry.status, entry.job = QUEUED, decision.job


def wait_for(entry: Entry, waiting: Waiting, reporter: Reporter) -> None:
    """Another shard builds this base: ask the registry again later, until the deadline."""
    now = time.monotonic()
    if entry.status != WAITING:
        entry.status, entry.deadline, entry.started = WAITING, now + waiting.seconds, now
        get_logger().info("waiting for base", recipe=entry.name, image=waiting.reference)
    elif now >= entry.deadline:
        fail(
            entry,
            f"{waiting.reference} has no image with inputs {(entry.inputs or '')[:12]} after "
            f"{waiting.seconds:.0f} s; {waiting.owner} builds it (did it fail?)",
            reporter,
        )
    entry.polled = now


def start_queued(entries: dict[str, Entry], executor: Executor, reporter: Reporter) -> None:
    for entry in entries.values():
        if len(executor.running()) >= executor.capacity:
            return
        if entry.status == QUEUED and entry.job is not None:
            entry.status, entry.started = RUNNING, time.monotonic()
            reporter.started(entry)
            executor.start(entry.name, entry.job)


def finish(entry: Entry, outcome: Outcome, reporter: Reporter) -> None:
    entry.warnings = outcome.warnings
    if outcome.result is None:
        fail(entry, outcome.error or "failed", reporter)
        return
    entry.status, entry.result = BUILT, outcome.result
    entry.image_id, entry.seconds = outcome.result.image_id, outcome.result.seconds
    reporter.finished(entry)


def fail(entry: Entry, error: str, reporter: Reporter) -> None:
    entry.status, entry.error = FAILED, error
    if entry.started:
        entry.seconds = round(time.monotonic() - entry.started, 1)
    reporter.finished(entry)  # which prints the one error line
