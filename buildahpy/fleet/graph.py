"""The fleet as a graph: which recipe builds on which, in what order, and which slice a shard gets.

Pure: works on loaded Recipe objects, starts no process. A recipe's ``base`` is an image tag; when
another recipe of the run builds that tag it is a dependency (built first, once), otherwise it is
an image that must already exist or can be pulled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.errors import UsageError

TARGET = "target"  # asked for on the command line (and in this shard's slice)
BASE = "base"  # only here because a target builds on it


@attrs.frozen
class Node:
    recipe: Recipe
    role: str = TARGET
    base_recipe: str | None = None  # name of the recipe that builds the base, if in this run
    base_image: str | None = None  # an image reference not built by this run

    @property
    def name(self) -> str:
        return self.recipe.name


def producers(recipes: Sequence[Recipe]) -> dict[str, Recipe]:
    """tag -> the one recipe that builds it; two recipes building one tag is a usage error."""
    by_tag: dict[str, Recipe] = {}
    for entry in recipes:
        first = by_tag.setdefault(entry.tag, entry)
        if first is not entry:
            raise UsageError(
                f"recipes {first.name} ({first.location}) and {entry.name} ({entry.location}) "
                f"both build {entry.tag}; give each image its own tag"
            )
    return by_tag


def check_cycles(recipes: Sequence[Recipe]) -> None:
    """A recipe that (through its bases) builds on itself is a usage error naming the loop."""
    by_tag = producers(recipes)
    for start in recipes:
        chain = [start.name]
        current = start
        while current.base is not None and current.base in by_tag:
            current = by_tag[current.base]
            if current.name in chain:
                loop = [*chain[chain.index(current.name) :], current.name]
                raise UsageError(f"recipes build on each other in a cycle: {' -> '.join(loop)}")
            chain.append(current.name)


def closure(recipes: Sequence[Recipe], wanted: Sequence[Recipe]) -> list[Node]:
    """The wanted recipes and every base they need, bases first, otherwise in file order."""
    check_cycles(recipes)
    by_tag = producers(recipes)
    wanted_names = {entry.name for entry in wanted}
    needed: set[str] = set()
    for entry in wanted:
        current: Recipe | None = entry
        while current is not None and current.name not in needed:
            needed.add(current.name)
            current = by_tag.get(current.base) if current.base else None
    nodes: dict[str, Node] = {}

    def visit(entry: Recipe) -> None:
        if entry.name in nodes:
            return
        base = by_tag.get(entry.base) if entry.base else None
        if base is not None:
            visit(base)
        nodes[entry.name] = Node(
            recipe=entry,
            role=TARGET if entry.name in wanted_names else BASE,
            base_recipe=base.name if base else None,
            base_image=entry.base if entry.base and base is None else None,
        )

    for entry in recipes:
        if entry.name in needed:
            visit(entry)
    return list(nodes.values())


_SHARD_RE = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N (I is 0-based, like a Kubernetes Indexed Job's completion index)."""
    match = _SHARD_RE.match(text.strip())
    if not match or int(match.group(2)) < 1 or int(match.group(1)) >= int(match.group(2)):
        raise UsageError(f"--shard {text}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(match.group(1)), int(match.group(2))


def shard_of(name: str, count: int) -> int:
    """A recipe's shard depends on its name alone, so adding a recipe never moves the others."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count


def in_shard(recipes: Sequence[Recipe], index: int, count: int) -> list[Recipe]:
    return [entry for entry in recipes if shard_of(entry.name, count) == index]


def shard_closure(
    recipes: Sequence[Recipe], wanted: Sequence[Recipe], index: int, count: int
) -> list[Node]:
    """Slice ``index``'s recipes with their bases, and every base of the whole selection that
    hashes to this slice (role ``base``): a fleet sharing a registry builds each base in the
    shard it belongs to, even when no recipe of that shard needs it."""
    mine = in_shard(wanted, index, count)
    owned = [
        node.recipe
        for node in closure(recipes, wanted)
        if node.role == BASE and shard_of(node.name, count) == index
    ]
    targets = {entry.name for entry in mine}
    nodes = closure(recipes, [*mine, *owned])
    return [node if node.name in targets else attrs.evolve(node, role=BASE) for node in nodes]


def nodes_for(
    recipes: Sequence[Recipe],
    wanted: Sequence[Recipe],
    shard: tuple[int, int] | None,
    *,
    shared: bool,
) -> list[Node]:
    """What a run builds: the wanted recipes (a shard's slice of them) and their bases; with
    ``shared`` (the shards share a registry) the bases a shard owns rather than all it needs."""
    if shard is None:
        return closure(recipes, wanted)
    if shared:
        return shard_closure(recipes, wanted, *shard)
    return closure(recipes, in_shard(wanted, *shard))
