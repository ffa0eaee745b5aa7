"""Which step of a build a kill fell in, read from the build's ``-v --log-format json`` stderr
received before the kill (scripts/chaos class kill), and the table of kills per phase."""

from __future__ import annotations

import json
from collections import Counter

# In the order a build goes through them (a push may come after another job's cleanup).
PHASES = (
    "startup",  # before the first line: interpreter, preflight, the startup check
    "metadata",  # the shared cache's metadata snapshot (dnf makecache)
    "container",  # buildah from, mount
    "dnf",  # dnf install into the mount (downloads into the cache)
    "recipe",  # the recipe's own edits after its install
    "checks",  # prune, scrub, checks before commit, buildah config
    "commit",  # buildah commit under the pending name
    "sbom",  # --sbom's files, written after the commit
    "tag",  # the tag moves
    "push",  # buildah push to the registry
    "cleanup",  # umount, rm, untag the pending name, the summary
)

_STARTS = {
    "refresh metadata": "metadata",
    "create container": "container",
    "dnf install": "dnf",
    "dnf remove": "dnf",
    "prune": "checks",
    "check": "checks",
    "commit": "commit",
    "sbom": "sbom",
    "push": "push",
}
_COMMANDS = {
    "buildah config": "checks",
    "buildah commit": "commit",
    "buildah tag": "tag",
    "buildah push": "push",
    "buildah umount": "cleanup",
}


def _phase_of(record: dict[str, object]) -> str | None:
    event, name = record.get("event"), str(record.get("step", ""))
    if event == "start":
        return _STARTS.get(name)
    if event in ("step", "done") and name in ("dnf install", "push"):
        return "recipe" if name == "dnf install" else "cleanup"
    if event == "scrubbed":
        return "checks"
    if event == "run":
        command = str(record.get("cmd", ""))
        return next((p for c, p in _COMMANDS.items() if command.startswith(c)), None)
    if event in ("size report", "built", "summary"):
        return "cleanup"
    return None


def phase(stderr: str) -> str:
    """The step the run was in when the kill came: its last line that names one (a fleet's
    jobs interleave: the one that moved last)."""
    found = "startup"
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by the kill
        if isinstance(record, dict):
            found = _phase_of(record) or found
    return found


def table(counts: dict[str, Counter[str]]) -> str:
    """One line per kind of kill: how many kills fell in each phase (``done``: the run had
    finished before its kill's moment, no fault)."""
    columns = [p for p in (*PHASES, "done") if any(c[p] for c in counts.values())]
    head = ("KILLS BY PHASE", *columns, "total")
    body = [
        (name, *(str(c[p]) for p in columns), str(sum(c.values()))) for name, c in counts.items()
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *body]
    )
