"""The revision of a repository's metadata: the sha256 of its current repomd.xml, read over
file://, http(s), a metalink or a mirrorlist with urllib, in parallel. Starts no process.
"""

from __future__ import annotations

import hashlib
import ssl
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from buildahpy.log import get_logger
from buildahpy.plan.repos import Repo

_FETCH_TIMEOUT = 20.0
# tries of one revision read: a mirror's passing 503 or reset must not make the run think the
# repository unreadable (no shared cache, every image rebuilt); dnf retries its own downloads too
_TRIES = 3
_RETRY_PAUSE = 0.5


def _context(repo: Repo) -> ssl.SSLContext:
    options = dict(repo.section)
    context = ssl.create_default_context(cafile=options.get("sslcacert") or None)
    if options.get("sslverify", "1").strip() in ("0", "false", "False", "no"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.get("sslclientcert"):
        context.load_cert_chain(options["sslclientcert"], options.get("sslclientkey") or None)
    return context


def _get(url: str, repo: Repo) -> bytes:
    context = _context(repo) if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT, context=context) as response:
        data: bytes = response.read()
    return data


def metalink_repomd_sha256(document: bytes) -> str | None:
    """The current repomd.xml's sha256 from a metalink (not the older ones in alternates)."""
    root = ET.fromstring(document)
    for file_el in root.iter():
        if file_el.tag.endswith("}file") and file_el.get("name") == "repomd.xml":
            for child in file_el:
                if child.tag.endswith("}verification"):
                    for hash_el in child:
                        if hash_el.get("type") == "sha256" and hash_el.text:
                            return hash_el.text.strip()
    return None


def revision(repo: Repo) -> str:
    """sha256 of the repository's current repomd.xml; raises OSError/ValueError when unknown."""
    if repo.kind == "metalink":
        found = metalink_repomd_sha256(_get(repo.url, repo))
        if found is None:
            raise ValueError("the metalink lists no sha256 of repomd.xml")
        return found
    base = repo.url
    if repo.kind == "mirrorlist":
        lines = _get(repo.url, repo).decode(errors="replace").splitlines()
        mirrors = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not mirrors:
            raise ValueError("the mirrorlist is empty")
        base = mirrors[0]
    return hashlib.sha256(_get(base.rstrip("/") + "/repodata/repomd.xml", repo)).hexdigest()


def _transient(exc: OSError, repo: Repo) -> bool:
    """A remote mirror's passing trouble (5xx, 408, 429, a reset, a timeout), not a 404 or a
    local file that is not there."""
    if repo.url.startswith("file:"):
        return False
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    return True


def _retried(repo: Repo) -> str:
    """``revision(repo)``, tried again after a network error (not after bad metadata)."""
    for attempt in range(1, _TRIES + 1):
        try:
            found = revision(repo)
        except OSError as exc:
            if attempt == _TRIES or not _transient(exc, repo):
                raise
            time.sleep(_RETRY_PAUSE * attempt)
            continue
        if attempt > 1:
            get_logger().warning(
                "read the repository's metadata revision after retries",
                repo=repo.id,
                retries=attempt - 1,
            )
        return found
    raise AssertionError("unreachable")


def revisions(repos: Sequence[Repo]) -> dict[str, str | None]:
    """repo id -> metadata revision, or None where it cannot be read (its users are rebuilt)."""

    def one(repo: Repo) -> str | None:
        try:
            return _retried(repo)
        except (OSError, ValueError, ET.ParseError) as exc:
            get_logger().warning(
                "cannot read the repository's metadata revision; its images are rebuilt",
                repo=repo.id,
                cause=str(exc),
            )
            return None

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(repos)))) as pool:
        found = list(pool.map(one, repos))
    return {repo.id: value for repo, value in zip(repos, found, strict=True)}
