"""scripts/chaos's kill class names the step a kill fell in from the run's -v JSON log."""

from __future__ import annotations

import json
import sys
from collections import Counter

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import chaos_phases  # found through the path set just above


def log(*records: dict[str, str]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_the_last_step_named_is_the_phase_and_a_cut_line_is_skipped() -> None:
    assert chaos_phases.phase("") == "startup"
    dnf = log(
        {"event": "start", "step": "refresh metadata"},
        {"event": "step", "step": "refresh metadata"},
        {"event": "start", "step": "create container", "recipe": "a"},
        {"event": "start", "step": "dnf install", "recipe": "a"},
        {"event": "output", "recipe": "a"},
    )
    assert chaos_phases.phase(dnf) == "dnf"
    assert chaos_phases.phase(dnf + '{"event": "start", "st') == "dnf"
    after = log(
        {"event": "step", "step": "dnf install", "recipe": "a"},
        {"event": "run", "cmd": "buildah commit --quiet x", "recipe": "a"},
        {"event": "run", "cmd": "buildah tag 3e78 localhost/chaos/a", "recipe": "a"},
    )
    assert chaos_phases.phase(dnf + after) == "tag"
    push = log({"event": "run", "cmd": "buildah push --quiet localhost/chaos/a docker://r/a"})
    assert chaos_phases.phase(dnf + after + push) == "push"


def test_the_table_has_a_column_for_each_phase_hit() -> None:
    text = chaos_phases.table({"one": Counter(dnf=2, done=1), "two": Counter(tag=1)})
    assert text.splitlines() == [
        "KILLS BY PHASE  dnf  tag  done  total",
        "one             2    0    1     3",
        "two             0    1    0     1",
    ]
