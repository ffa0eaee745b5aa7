"""What the command line prints on stdout: the per-image table and the dry-run plan."""

from __future__ import annotations

import shlex
from typing import TextIO

from buildahpy.api.image import Image
from buildahpy.api.recipe import CHECKS
from buildahpy.host import buildah, dnf
from buildahpy.plan.plan import Plan, rpm_macros
from buildahpy.plan.repos import URL_KINDS, read_sections


def repo_lines(plan: Plan) -> list[str]:
    """Each private repository (a preset's, or --repo-file's) with its URL and keys."""
    lines = []
    for repo_file in plan.private_repos:
        for name, section in read_sections(repo_file).items():
            url = next((f"{k}={section[k]}" for k in URL_KINDS if section.get(k)), "no url")
            lines.append(f"{name}: {url} gpgcheck={section.get('gpgcheck', '1')}")
            lines += [f"  gpgkey {key}" for key in section.get("gpgkey", "").split()]
    return lines


def print_plan(plan: Plan, image: Image, out: TextIO) -> None:
    """Everything a build would do, with placeholders for what only exists during the build."""
    root, name = "<mountpoint>", f"{plan.container_prefix}-<random>"
    config = image.config_value
    lines = [
        f"recipe {plan.recipe_name} -> {plan.tag}",
        f"  distro: {plan.target.family} {plan.target.releasever}",
        f"  dnf: {plan.dnf_flavour} (weak deps {'on' if plan.weak_deps else 'off'}, "
        f"docs {'on' if plan.docs else 'off'})",
        f"  repositories: {', '.join(plan.repo_ids)} ({plan.repos_source}: "
        f"{', '.join(plan.reposdirs)})",
        *(f"    {line}" for line in repo_lines(plan)),
        f"  rpmdb: {plan.rpmdb_path}",
        f"  rpm macros: {'; '.join(rpm_macros(plan).splitlines())}",
        f"  packages: {' '.join(image.specs) or '(none)'}",
    ]
    if image.removed:
        lines.append(f"  removed: {' '.join(image.removed)}")
    skipped = dict(plan.skip_checks)
    checks = [f"{name} (skipped: {skipped[name]})" if name in skipped else name for name in CHECKS]
    lines.append(f"  checks before commit: {', '.join(checks)}")
    lines.append("  steps:")
    lines += [f"    {entry}" for entry in image.steps] or ["    (none)"]
    lines.append("  commands:")
    commands = [buildah.from_argv(name, plan.base_image), ["buildah", "mount", name]]
    if image.specs:
        commands.append(dnf.install_argv(plan, root, image.specs))
    if image.removed:
        commands.append(dnf.remove_argv(plan, root, image.removed))
    commands += [
        buildah.config_argv(name, config),
        buildah.commit_argv(
            name, "<iidfile>", f"localhost/{name}:pending", docker=config.needs_docker_format
        ),
        ["buildah", "tag", "<image-id>", plan.tag],
        ["buildah", "rmi", f"localhost/{name}:pending"],
        ["buildah", "umount", name],
        ["buildah", "rm", name],
    ]
    lines += [f"    {shlex.join(argv)}" for argv in commands]
    out.write("\n".join(lines) + "\n")
