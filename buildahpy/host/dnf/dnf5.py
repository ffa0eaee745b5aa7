"""dnf5 (libdnf5): plugins off with ``--no-plugins``; the cache by its options; filelists.

dnf5 takes ``cachedir`` as given, but as root it uses ``system_cachedir``, so both are set. It
loads no filelists unless told, so a spec that is a file path outside primary.xml
(/usr/libexec/x) would not resolve: ``optional_metadata_types=filelists`` asks for them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from buildahpy.host.dnf.base import Dnf
from buildahpy.host.dnf.dnf4 import explain_rpm_signature

if TYPE_CHECKING:
    from buildahpy.plan.plan import Plan

# 'OpenPGP check for package "n-v-r.a" (path) from repo "id" has failed: <reason>'
_CHECK = re.compile(
    r'OpenPGP check for package "([^"]+)" (?:\(.*?\) )?from repo "([^"]+)" has failed: ([^\n]+)'
)


class Dnf5(Dnf):
    name = "dnf5"
    no_plugins = "--no-plugins"
    no_repos = "--disable-repo=*"
    caches = ("/var/cache/libdnf5",)
    logs = ("/var/log/dnf5.log", "/var/log/dnf5.log.1")
    state = ("/usr/lib/sysimage/libdnf5",)

    def own_argv(self, plan: Plan) -> list[str]:
        return ["--setopt=optional_metadata_types=filelists"]

    def cache_argv(self, plan: Plan) -> list[str]:
        if not plan.cachedir:
            return []
        return [
            *super().cache_argv(plan),
            f"--setopt=cachedir={plan.cachedir}",
            f"--setopt=system_cachedir={plan.cachedir}",
        ]

    def explain_signature(self, text: str) -> str | None:
        if found := _CHECK.search(text):
            package, repo, reason = found.groups()
            return f"signature check of package {package} from repository {repo!r} failed: {reason}"
        return explain_rpm_signature(text)
