"""What a repository publishes of each package (primary.xml: location, size, sha256), read with
urllib and xml.etree from its baseurl (file://, http(s); a metalink's or mirrorlist's first
mirror), the package names in the metadata dnf left in a build's cache, and the fetching of
package and key files. Starts no process.
"""

from __future__ import annotations

import gzip
import lzma
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import attrs

from buildahpy.host import repomd
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.repos import Repo

_REPO = "{http://linux.duke.edu/metadata/repo}"
_COMMON = "{http://linux.duke.edu/metadata/common}"
_METALINK_URL = "{http://www.metalinker.org/}url"

Nevra = tuple[str, int, str, str, str]  # name, epoch, version, release, arch


@attrs.frozen
class Entry:
    url: str
    size: int
    sha256: str


def base_url(repo: Repo) -> str:
    """The URL package locations are relative to: the baseurl, else the first mirror."""
    if repo.kind == "baseurl":
        return repo.url.rstrip("/")
    document = repomd._get(repo.url, repo)
    if repo.kind == "mirrorlist":
        lines = document.decode(errors="replace").splitlines()
        mirrors = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    else:
        found = (el.text or "" for el in ET.fromstring(document).iter(_METALINK_URL))
        mirrors = [u.strip().removesuffix("/repodata/repomd.xml") for u in found if "://" in u]
    if not mirrors:
        raise ValueError(f"the {repo.kind} lists no mirror")
    return mirrors[0].rstrip("/")


def _zstd_decompress(data: bytes) -> bytes:
    """createrepo_c >= 1.0 (Fedora's metadata, Debian sid) compresses with zstd by default:
    Python 3.14's compression.zstd, else the zstandard package."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            return bytes(reader.read())
    return bytes(zstd.decompress(data))


def _decompress(href: str, data: bytes) -> bytes:
    if href.endswith(".gz"):
        return gzip.decompress(data)
    if href.endswith(".xz"):
        return lzma.decompress(data)
    if href.endswith(".zst"):
        return _zstd_decompress(data)
    if href.endswith(".xml"):
        return data
    raise ValueError(f"cannot read {href} (only .gz, .xz, .zst and plain primary.xml are read)")


def parse_primary(document: bytes, base: str) -> dict[Nevra, Entry]:
    """Every rpm of a primary.xml, by NEVRA; sha256 only (older checksums are refused)."""
    found: dict[Nevra, Entry] = {}
    for package in ET.fromstring(document).iter(f"{_COMMON}package"):
        if package.get("type") != "rpm":
            continue
        version = package.find(f"{_COMMON}version")
        checksum = package.find(f"{_COMMON}checksum")
        location = package.find(f"{_COMMON}location")
        size = package.find(f"{_COMMON}size")
        if version is None or checksum is None or location is None or size is None:
            continue
        key = (
            package.findtext(f"{_COMMON}name", ""),
            int(version.get("epoch") or 0),
            version.get("ver", ""),
            version.get("rel", ""),
            package.findtext(f"{_COMMON}arch", ""),
        )
        if checksum.get("type") != "sha256":
            continue
        root = (location.get("{http://www.w3.org/XML/1998/namespace}base") or base).rstrip("/")
        url = f"{root}/{location.get('href', '')}"
        found[key] = Entry(url, int(size.get("package") or 0), (checksum.text or "").strip())
    return found


def primary_href(repomd_xml: bytes) -> str:
    for data in ET.fromstring(repomd_xml).iter(f"{_REPO}data"):
        location = data.find(f"{_REPO}location")
        if data.get("type") == "primary" and location is not None:
            return location.get("href", "")
    raise ValueError("repomd.xml names no primary metadata")


def packages(repo: Repo) -> dict[Nevra, Entry]:
    """The repository's packages as its current metadata lists them."""
    base = base_url(repo)
    href = primary_href(repomd._get(f"{base}/repodata/repomd.xml", repo))
    return parse_primary(_decompress(href, repomd._get(f"{base}/{href}", repo)), base)


def fetch(url: str, repo: Repo) -> bytes:
    """One file of a repository (a package or a key)."""
    return repomd._get(url, repo)


def fetch_to(url: str, repo: Repo, dest: Path) -> None:
    dest.write_bytes(fetch(url, repo))


def primary_names(href: str, data: bytes) -> set[str]:
    """The package names a (compressed) primary.xml lists."""
    return {
        element.text or ""
        for element in ET.fromstring(_decompress(href, data)).iter(f"{_COMMON}name")
    }


def _is_primary(name: str) -> bool:
    return "primary.xml" in name and name.rsplit(".", 1)[-1] in ("xml", "gz", "xz", "zst")


def cached_names(host_dirs: Sequence[Path], root: RootFS, image_dirs: Sequence[str]) -> set[str]:
    """Names in the primary metadata a dnf run left in its cache: ``host_dirs`` on the host (a
    build's private cachedir), ``image_dirs`` inside the image (read confined); dnf4 and dnf5
    both keep each repository's as ``<cache>/<repo>-<hash>/repodata/*primary.xml*``. Nothing
    is fetched; unreadable metadata counts as none."""
    names: set[str] = set()
    for top in host_dirs:
        for path in top.glob("*/repodata/*primary.xml*") if top.is_dir() else ():
            with suppress(OSError, ValueError, ET.ParseError, EOFError):
                if _is_primary(path.name) and not path.is_symlink():
                    names |= primary_names(path.name, path.read_bytes())
    for cache in image_dirs:
        for repo in root.listdir(cache):
            for name in filter(_is_primary, root.listdir(f"{cache}/{repo}/repodata")):
                with suppress(OSError, ValueError, ET.ParseError, EOFError):
                    data = root.read_bytes(f"{cache}/{repo}/repodata/{name}")
                    names |= primary_names(name, data)
    return names


def cached_repomd(
    host_dirs: Sequence[Path], root: RootFS, image_dirs: Sequence[str], repo_id: str
) -> bytes | None:
    """The repomd.xml a dnf run read for ``repo_id`` (from its cache, as ``cached_names``
    finds it: ``<cache>/<repo>-<hash>/repodata/repomd.xml``), or None when there is none."""
    for top in host_dirs:
        for path in sorted(top.glob(f"{repo_id}-*/repodata/repomd.xml")) if top.is_dir() else ():
            with suppress(OSError):
                return path.read_bytes()
    for cache in image_dirs:
        for name in root.listdir(cache):
            if name.startswith(f"{repo_id}-"):
                with suppress(OSError):
                    return root.read_bytes(f"{cache}/{name}/repodata/repomd.xml")
    return None
