"""The user's own Python modules that a recipe file runs: their content is an input of its images.

A module is the user's own when its file is a regular file outside the standard library, outside
the directories of installed distributions (site-packages, dist-packages) and outside buildahpy:
a helper next to the recipe, or on a ``sys.path`` entry of the user's. They are found from what the
import system really loaded: inside ``fresh_imports()`` none of them is in ``sys.modules``, so
each import of one runs it again, and whatever is in ``sys.modules`` at the end was imported
inside. That catches what a static scan (``modulefinder``) cannot: imports made by a function
only when it runs, ``importlib.import_module`` with a computed name, ``sys.path`` edits made by
the recipe itself, and modules that another recipe file had already imported earlier in the run
(a shared ``common.py``). The price: a helper shared by two recipe files runs once for each,
and each file's recipes use their own copy of it. Pure Python: starts no process.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType

# The modules recipe files are loaded as (recipe.load_file): their source is an input already,
# and they stay in sys.modules for whatever refers to them by name.
RECIPE_MODULE_PREFIX = "buildahpy_recipe_"
_INSTALLED_PARTS = frozenset({"site-packages", "dist-packages"})


@cache
def _system_dirs() -> tuple[Path, ...]:
    schemes = [
        sysconfig.get_paths(),
        sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix}),
    ]
    dirs = [s[key] for s in schemes for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    dirs += [*site.getsitepackages(), site.getusersitepackages()]
    dirs.append(str(Path(__file__).resolve().parents[1]))  # buildahpy: its version is an input
    return tuple(Path(d).resolve() for d in dirs if d)


def module_file(module: ModuleType) -> Path | None:
    """The file a module was run from, when it is one of the user's own; else None."""
    spec = getattr(module, "__spec__", None)
    origin = spec.origin if spec is not None and spec.has_location else None
    origin = origin or getattr(module, "__file__", None)
    return own_file(origin) if isinstance(origin, str) else None


@cache
def own_file(origin: str) -> Path | None:
    """``origin`` resolved, when it is a file of the user's own code; else None."""
    path = Path(origin).resolve()
    if not path.is_file() or _INSTALLED_PARTS & set(path.parts):
        return None
    if any(path.is_relative_to(directory) for directory in _system_dirs()):
        return None
    return path


def own_modules() -> dict[str, Path]:
    """name -> file of the user's own modules in ``sys.modules`` (recipe files not counted)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name == "__main__" or name.startswith(RECIPE_MODULE_PREFIX):
            continue
        path = module_file(module) if isinstance(module, ModuleType) else None
        if path is not None:
            found[name] = path
    return found


@contextmanager
def fresh_imports() -> Iterator[list[Path]]:
    """Run the block with the user's own modules out of ``sys.modules``; the list it gives is
    filled, when the block ends (even by an error), with the files of those it imported.

    Afterwards ``sys.modules`` is as it was, plus the modules that were new: code outside the
    block keeps seeing the module objects it saw before.
    """
    evicted = {name: sys.modules.pop(name) for name in own_modules()}
    found: list[Path] = []
    try:
        yield found
    finally:
        found += sorted(set(own_modules().values()))
        sys.modules.update(evicted)
