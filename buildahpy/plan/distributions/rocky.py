"""Rocky Linux 8 and 9: BaseOS + AppStream, from Rocky's mirrorlist or a mirror laid out as
dl.rockylinux.org is (``N/BaseOS/ARCH/os``)."""

from __future__ import annotations

from buildahpy.plan.distributions import Family, Key, RepoDef, join, numeric


def repos(releasever: str, mirror: str) -> list[RepoDef]:
    found = []
    for repo in ("BaseOS", "AppStream"):
        name = f"Rocky Linux {releasever} - {repo}"
        if mirror:
            url = join(mirror, f"$releasever/{repo}/$basearch/os/")
            found.append(RepoDef(repo.lower(), name, "baseurl", url))
        else:
            url = (
                f"https://mirrors.rockylinux.org/mirrorlist?arch=$basearch&repo={repo}-$releasever"
            )
            found.append(RepoDef(repo.lower(), name, "mirrorlist", url))
    return found


def keys(releasever: str) -> list[Key]:
    # Rocky 8 hosts keep it under its older name
    pki = "RPM-GPG-KEY-rockyofficial" if releasever == "8" else ""
    return [Key(f"RPM-GPG-KEY-Rocky-{releasever}", "rocky", "rocky-release", pki)]


FAMILY = Family("rocky", "8, 9", numeric(8, 9), repos, keys)
