"""AlmaLinux 8, 9 and 10: BaseOS + AppStream, from AlmaLinux's mirrorlist or a mirror laid out
as repo.almalinux.org is (``N/BaseOS/ARCH/os``)."""

from __future__ import annotations

from buildahpy.plan.distributions import Family, Key, RepoDef, join, numeric


def repos(releasever: str, mirror: str) -> list[RepoDef]:
    found = []
    for repo in ("BaseOS", "AppStream"):
        name = f"AlmaLinux {releasever} - {repo}"
        if mirror:
            url = join(mirror, f"$releasever/{repo}/$basearch/os/")
            found.append(RepoDef(repo.lower(), name, "baseurl", url))
        else:
            url = f"https://mirrors.almalinux.org/mirrorlist/$releasever/{repo.lower()}"
            found.append(RepoDef(repo.lower(), name, "mirrorlist", url))
    return found


def keys(releasever: str) -> list[Key]:
    # AlmaLinux 8's key file carries no release number
    file = "RPM-GPG-KEY-AlmaLinux" if releasever == "8" else f"RPM-GPG-KEY-AlmaLinux-{releasever}"
    return [Key(file, "alma", "almalinux-release")]


FAMILY = Family("almalinux", "8, 9, 10", numeric(8, 10), repos, keys)
