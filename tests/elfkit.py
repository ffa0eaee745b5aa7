"""Small ELF files made on the fly: just the headers the dynamic loader reads.

Two PT_LOAD segments whose virtual addresses differ from their file offsets, so a reader has to
map DT_STRTAB (an address) through them; PT_INTERP and PT_DYNAMIC as asked. No code: the files
are for the checks (and for readelf, which the tests use to tell that they are well formed).
"""

from __future__ import annotations

import struct
from pathlib import Path

EM_X86_64, EM_386, EM_AARCH64, EM_S390 = 62, 3, 183, 22
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
_LOW, _HIGH = 0x400000, 0x600000  # where the two segments are mapped


def make_elf(
    *,
    bits: int = 64,
    big_endian: bool = False,
    machine: int = EM_X86_64,
    e_type: int = ET_DYN,
    interp: str = "",
    needed: tuple[str, ...] = (),
    soname: str = "",
    rpath: str = "",
    runpath: str = "",
    dynamic: bool = True,
) -> bytes:
    order = ">" if big_endian else "<"
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    phnum = 2 + bool(interp) + bool(dynamic)
    headers = ehsize + phentsize * phnum
    strings = b"\0"
    offsets: dict[str, int] = {}
    for text in (*needed, soname, rpath, runpath):
        if text and text not in offsets:
            offsets[text] = len(strings)
            strings += text.encode() + b"\0"
    interp_bytes = interp.encode() + b"\0" if interp else b""
    # the second segment: the interpreter string, the string table, then the dynamic entries
    interp_at = headers
    strtab_at = interp_at + len(interp_bytes)
    dynamic_at = strtab_at + len(strings)
    dynamic_at += -dynamic_at % 8
    tags = [(1, offsets[n]) for n in needed]
    tags += [
        (tag, offsets[text]) for tag, text in ((14, soname), (15, rpath), (29, runpath)) if text
    ]
    tags += [(5, _HIGH + strtab_at - headers), (10, len(strings)), (0, 0)]
    entry = order + ("qQ" if bits == 64 else "iI")
    table = b"".join(struct.pack(entry, tag, value) for tag, value in tags)
    size = dynamic_at + len(table)

    def phdr(p_type: int, offset: int, vaddr: int, filesz: int) -> bytes:
        if bits == 64:
            return struct.pack(
                order + "IIQQQQQQ", p_type, 4, offset, vaddr, vaddr, filesz, filesz, 8
            )
        return struct.pack(order + "IIIIIIII", p_type, offset, vaddr, vaddr, filesz, filesz, 4, 4)

    def high(offset: int) -> int:
        return _HIGH + offset - headers

    segments = [phdr(1, 0, _LOW, headers), phdr(1, headers, _HIGH, size - headers)]
    if interp:
        segments.append(phdr(3, interp_at, high(interp_at), len(interp_bytes)))
    if dynamic:
        segments.append(phdr(2, dynamic_at, high(dynamic_at), len(table)))
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big_endian else 1, 1]) + bytes(9)
    if bits == 64:
        rest = struct.pack(
            order + "HHIQQQIHHHHHH", e_type, machine, 1, 0, ehsize, 0, 0, ehsize, phentsize, phnum,
            64, 0, 0,
        )  # fmt: skip
    else:
        rest = struct.pack(
            order + "HHIIIIIHHHHHH", e_type, machine, 1, 0, ehsize, 0, 0, ehsize, phentsize, phnum,
            40, 0, 0,
        )  # fmt: skip
    body = ident + rest + b"".join(segments)
    body += interp_bytes + strings
    body += bytes(dynamic_at - len(body)) + table
    return body


def write_elf(path: Path, mode: int = 0o755, **fields: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_elf(**fields))  # type: ignore[arg-type]
    path.chmod(mode)
    return path
