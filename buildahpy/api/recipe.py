"""Recipes: the ``@recipe`` decorator and loading recipe files.

Pure Python: imports the user's files, starts no process.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import attrs

from buildahpy.api.budget import Budget
from buildahpy.api.imports import RECIPE_MODULE_PREFIX, fresh_imports, own_file
from buildahpy.api.options import Minimize, parse_arches
from buildahpy.api.validate import tag_problem
from buildahpy.errors import BuildahpyError, RecipeError

# A recipe's name goes into its working container's (buildahpy-<name, '_' -> '-'>-..., which
# gc.NAME_RE must match), the lock file's (255 bytes) and the pending image's (255 characters).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,199}")

# What the build checks before it commits (checks.py), in the order it checks them.
CHECKS = ("user", "workdir", "entrypoint", "libraries", "os-release")


def normalise_tag(tag: object) -> str:
    """Check an image reference and add ':latest' when it has no tag."""
    problem = tag_problem(tag)
    if problem is not None or not isinstance(tag, str):
        raise RecipeError(f"invalid image tag {tag!r}: {problem}")
    last = tag.rsplit("/", 1)[-1]
    return tag if ":" in last else f"{tag}:latest"


@attrs.frozen
class Recipe:
    """What the user asked for: one image, built by calling ``func(image)``."""

    name: str
    tag: str
    func: Callable[[Any], None] = attrs.field(eq=False, repr=False)
    file: Path
    line: int
    distro: str | None = None
    releasever: str | None = None
    weak_deps: bool = False
    docs: bool = False
    minimize: Minimize = attrs.Factory(Minimize)
    base: str | None = None  # the tag of the image this one starts from (None: scratch)
    # the user's own modules that loading its file imported (imports.py); their content is an
    # input, their paths are not part of what the recipe is
    imports: tuple[Path, ...] = attrs.field(default=(), eq=False, repr=False)
    skip_checks: tuple[tuple[str, str], ...] = ()  # (check, the recipe's reason to skip it)
    release_package: bool = True  # add the target's release package when there is no os-release
    sbom_in_image: bool = False  # a CycloneDX SBOM under /root/buildinfo/content_manifests
    version: str | None = None  # the org.opencontainers.image.version label
    budget: Budget = attrs.Factory(Budget)  # max_size=, max_growth= (checked before the tag moves)
    # the architectures to build for (plan/arches.py); () the host's. Out of repr: each
    # architecture's image has inputs of its own (inputs.py), whatever else is in the list
    arches: tuple[str, ...] = attrs.field(default=(), repr=False)

    @property
    def location(self) -> str:
        return f"{display(self.file)}:{self.line}"


_collected: list[Recipe] | None = None


def recipe(
    tag: str,
    *,
    distro: str | None = None,
    releasever: str | int | None = None,
    weak_deps: bool = False,
    docs: bool = False,
    alternatives: bool = True,
    prefer: dict[str, list[str]] | None = None,
    langs: str | list[str] | tuple[str, ...] = ("C.UTF-8",),
    prune: bool = True,
    base: str | Callable[[Any], None] | None = None,
    checks: Mapping[str, str] | None = None,
    release_package: bool = True,
    sbom_in_image: bool = False,
    version: str | None = None,
    name: str | None = None,
    max_size: str | int | None = None,
    max_growth: str | int | None = None,
    arches: str | Sequence[str] = (),
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register the decorated function as a recipe building the image ``tag``.

    ``name``: the recipe's name (default: the function's), so that one function can make
    several recipes (``recipe("localhost/app:debug", name="app_debug")(build_app)``); the
    recipe's place is the line of this call in the recipe file.

    ``base`` is another recipe function, or an image reference, to build on instead of scratch.
    ``checks`` maps a check of CHECKS to the reason the recipe skips it.
    ``release_package=False``: an image without /etc/os-release stays without one.
    ``sbom_in_image``: put a CycloneDX SBOM at /root/buildinfo/content_manifests in the image.
    ``version``: the image's org.opencontainers.image.version label.
    ``max_size``, ``max_growth``: the size budget ('25 MB'; '5%' of the image under the tag).
    ``arches``: build for these architectures (``"x86_64,aarch64"`` or a list), one image each
    under the tag as a manifest list.
    """
    normalised = normalise_tag(tag)
    skip_checks = skipped_checks(checks)
    base_tag = base_reference(base)
    if releasever is not None and not isinstance(releasever, str | int):
        raise RecipeError(f"releasever must be a string or number, not {releasever!r}")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise RecipeError(f"version= must be a non-empty string: {version!r}")
    try:
        minimize = Minimize.from_options(alternatives, prefer, langs, prune)
        budget = Budget.from_options(max_size, max_growth)
        targets = parse_arches(arches) if arches else ()
    except ValueError as exc:
        raise RecipeError(str(exc)) from None

    file, line = call_site()

    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        if not callable(func):
            raise RecipeError(f"recipe({tag!r}) decorates a function, not {func!r}")
        own = name if name is not None else getattr(func, "__name__", None)
        if not isinstance(own, str) or not _NAME_RE.fullmatch(own):
            raise RecipeError(
                f"recipe name {own!r} cannot name a working container: use ASCII "
                "letters, digits and '_' (not first), at most 200 characters"
                + ("" if name is not None else "; or give one with recipe(..., name=...)")
            )
        entry = Recipe(
            name=own,
            tag=normalised,
            func=func,
            file=file,
            line=line,
            distro=distro,
            releasever=None if releasever is None else str(releasever),
            weak_deps=bool(weak_deps),
            docs=bool(docs),
            minimize=minimize,
            base=base_tag,
            skip_checks=skip_checks,
            release_package=bool(release_package),
            sbom_in_image=bool(sbom_in_image),
            version=version,
            budget=budget,
            arches=targets,
        )
        setattr(func, _RECIPE_ATTR, entry)  # so another recipe can name it as its base
        if _collected is not None:
            _collected.append(entry)
        return func

    return register


_RECIPE_ATTR = "__buildahpy_recipe__"
_loading: Path | None = None  # the recipe file being loaded


def call_site() -> tuple[Path, int]:
    """Where ``recipe(...)`` was called: the innermost line of the recipe file being loaded
    (a helper module's function that registers recipes counts as the line calling it), else
    the caller's own line."""
    caller = sys._getframe(2)  # 0: call_site, 1: recipe
    frames = [(Path(f.f_code.co_filename), line) for f, line in traceback.walk_stack(caller)]
    for path, line in frames if _loading is not None else ():
        if path == _loading:
            return path, line
    return frames[0]


def skipped_checks(checks: object) -> tuple[tuple[str, str], ...]:
    """``checks={"libraries": "static binaries only"}``: known names, each with a reason."""
    if checks is None:
        return ()
    if not isinstance(checks, Mapping):
        raise RecipeError(f"checks= must map a check's name to the reason to skip it: {checks!r}")
    skipped = []
    for name, reason in checks.items():
        if name not in CHECKS:
            raise RecipeError(
                f"unknown check {name!r} in checks=; the checks are {', '.join(CHECKS)}"
            )
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            raise RecipeError(
                f"checks={{{name!r}: ...}} needs the reason to skip it, on one line: {reason!r}"
            )
        skipped.append((name, reason.strip()))
    return tuple(sorted(skipped))


def base_reference(base: object) -> str | None:
    """The image tag a ``base=`` argument names: a recipe function's tag, or a reference."""
    if base is None:
        return None
    if callable(base):
        entry = getattr(base, _RECIPE_ATTR, None)
        if not isinstance(entry, Recipe):
            name = getattr(base, "__name__", repr(base))
            raise RecipeError(f"base={name} is not a recipe (decorate it with @recipe(tag))")
        return entry.tag
    return normalise_tag(base)


def display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_SITE = "_buildahpy_site"


def note_site(exc: BaseException, site: traceback.StackSummary) -> None:
    """Say where the recipe asked for what failed later (a batched install fails when it is
    flushed, by then the recipe may be on another line or done): ``where_in`` names that."""
    if getattr(exc, _SITE, None) is None:
        with suppress(AttributeError):  # an exception type that takes no attributes
            setattr(exc, _SITE, site)


def where_in(exc: BaseException, file: Path) -> str:
    """'file:line' of the innermost frame of ``exc`` that is in ``file`` (else just the file),
    and the innermost frame of the user's own code below it, a helper module's, if any:
    'recipe.py:12 (common.py:4)'."""
    if isinstance(exc, SyntaxError) and exc.filename == str(file):
        return f"{display(file)}:{exc.lineno}"
    site = getattr(exc, _SITE, None)
    frames = (
        site
        if isinstance(site, traceback.StackSummary)
        else traceback.extract_tb(exc.__traceback__)
    )
    line, helper = None, ""
    for frame in frames:
        if Path(frame.filename) == file:
            line, helper = frame.lineno, ""
        elif (path := own_file(frame.filename)) is not None:
            helper = f" ({display(path)}:{frame.lineno})"
    return (f"{display(file)}:{line}" if line else display(file)) + helper


def failure_in(exc: BaseException, file: Path) -> str:
    """The one line for an error a recipe caused, ``file:line: cause``; an exception that is
    not buildahpy's own also says its type."""
    if isinstance(exc, BuildahpyError):
        return f"{where_in(exc, file)}: {exc}"
    detail = exc.msg if isinstance(exc, SyntaxError) else exc
    return f"{where_in(exc, file)}: {type(exc).__name__}: {detail}"


def load_file(path: Path) -> list[Recipe]:
    """Import one recipe file and return the recipes it registers, in definition order."""
    global _collected, _loading
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file does not exist")
    resolved = path.resolve()
    module_name = f"{RECIPE_MODULE_PREFIX}{abs(hash(str(resolved))):x}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise RecipeError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    found: list[Recipe] = []
    _collected, _loading = found, resolved
    sys.modules[module_name] = module
    try:
        with fresh_imports() as imported:
            spec.loader.exec_module(module)
    except Exception as exc:
        raise RecipeError(failure_in(exc, resolved)) from None
    finally:
        _collected, _loading = None, None
    if not found:
        raise RecipeError(f"{path}: defines no recipes (decorate a function with @recipe(tag))")
    return [attrs.evolve(entry, imports=tuple(imported)) for entry in found]


def load_files(paths: Sequence[Path]) -> list[Recipe]:
    recipes: list[Recipe] = []
    seen: dict[str, Recipe] = {}
    for path in paths:
        for entry in load_file(path):
            if entry.name in seen:
                first = seen[entry.name]
                raise RecipeError(
                    f"{entry.location}: recipe '{entry.name}' is already defined "
                    f"at {first.location}"
                )
            seen[entry.name] = entry
            recipes.append(entry)
    return recipes
