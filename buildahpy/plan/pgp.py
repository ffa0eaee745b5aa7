"""OpenPGP public key fingerprints (RFC 4880 12.2, RFC 9580 5.5.4) from a key file's bytes.

Pure: a lock names keys by fingerprint, read here from the armored or binary key a repository's
gpgkey= points at, without gpg.
"""

from __future__ import annotations

import base64
import binascii
import hashlib


def dearmor(data: bytes) -> bytes:
    """The binary packets of an ASCII-armored block (or ``data`` itself when not armored)."""
    text = data.decode("ascii", errors="replace")
    if "-----BEGIN PGP" not in text:
        return data
    body: list[str] = []
    lines = text.split("-----BEGIN PGP", 1)[1].splitlines()[1:]
    in_headers = True
    for line in lines:
        line = line.strip()
        if line.startswith("-----END"):
            break
        if in_headers:
            in_headers = line != "" and ":" in line
            if in_headers or line == "":
                continue
        if line.startswith("="):  # the CRC24 line
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body))
    except binascii.Error as exc:
        raise ValueError(f"bad armor: {exc}") from None


def packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each packet, old and new header formats."""
    found, at = [], 0
    while at < len(data):
        head = data[at]
        if not head & 0x80:
            raise ValueError("not an OpenPGP packet")
        if head & 0x40:  # new format
            tag, at = head & 0x3F, at + 1
            first = data[at]
            if first < 192:
                length, at = first, at + 1
            elif first < 224:
                length, at = ((first - 192) << 8) + data[at + 1] + 192, at + 2
            elif first == 255:
                length, at = int.from_bytes(data[at + 1 : at + 5], "big"), at + 5
            else:
                raise ValueError("partial body lengths are not used in keys")
        else:
            tag, kind = (head >> 2) & 0x0F, head & 0x03
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise ValueError("indeterminate packet length")
            length, at = int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size
        found.append((tag, data[at : at + length]))
        at += length
    return found


def fingerprint(body: bytes) -> str:
    """Of one public key packet body: v4 sha1, v5/v6 sha256."""
    if body[:1] == b"\x04":
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if body[:1] in (b"\x05", b"\x06"):
        prefix = b"\x9a" if body[:1] == b"\x05" else b"\x9b"
        return hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    raise ValueError(f"key version {body[:1].hex()} is not read")


def primary_fingerprints(data: bytes) -> list[str]:
    """The primary keys' fingerprints (tag 6) of a key file, as rpm imports them."""
    return [fingerprint(body) for tag, body in packets(dearmor(data)) if tag == 6]
