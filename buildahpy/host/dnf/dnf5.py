"""dnf5 (libdnf5): plugins off with ``--no-plugins``; the cache by its options; filelists.

dnf5 takes ``cachedir`` as given, but as root it uses ``system_cachedir``, so both are set. It
loads no filelists unless told, so a spec that is a file path outside primary.xml
(/usr/libexec/x) would not resolve: ``optional_metadata_types=filelists`` asks for them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from buildahpy.host.dnf.base import Dnf, dnf5_attempts
from buildahpy.host.dnf.dnf4 import explain_rpm_signature

if TYPE_CHECKING:
    from buildahpy.host.tools import Completed
    from buildahpy.plan.plan import Plan

# 'OpenPGP check for package "n-v-r.a" (path) from repo "id" has failed: <reason>'
_CHECK = re.compile(
    r'OpenPGP check for package "([^"]+)" (?:\(.*?\) )?from repo "([^"]+)" has failed: ([^\n]+)'
)


# dnf 5.4's reasons (libdnf5 rpm_signature.cpp), said the way dnf4's cases are
_REASONS = {
    "The package is not signed": (
        "package {package} is not signed and its repository has gpgcheck=1"
    ),
    "Import of the key didn't help, wrong key": (
        "package {package} is not signed by a key that repository '{repo}' trusts"
    ),
    "The repository does not have any OpenPGP keys configured": (
        "repository '{repo}' has gpgcheck=1 but no gpgkey=;"
        " add the URL of its signing key to the .repo file"
    ),
}


class Dnf5(Dnf):
    name = "dnf5"
    # Debian's dnf5 ships only /usr/bin/dnf5; Fedora 41+ links dnf to it
    commands = ("dnf5", "dnf")
    package = "dnf5"
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

    def download_retries(self, done: Completed) -> int:
        return len(dnf5_attempts(done.stderr))

    def explain_signature(self, text: str) -> str | None:
        if found := _CHECK.search(text):
            package, repo, reason = found.groups()
            for known, cause in _REASONS.items():
                if reason.startswith(known):
                    return cause.format(package=package, repo=repo)
            return f"signature check of package {package} from repository {repo!r} failed: {reason}"
        return explain_rpm_signature(text)
