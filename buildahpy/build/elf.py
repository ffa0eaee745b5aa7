"""What the dynamic loader reads from an ELF file: class, machine, interpreter, DT_NEEDED, paths.

Reads only headers, through an open fd (``os.pread``): the ELF header, the program headers, the
PT_INTERP string, the PT_DYNAMIC entries and the strings they name in DT_STRTAB (a virtual
address, mapped to a file offset through the PT_LOAD segment that holds it). ELF32 and ELF64,
little and big endian. Pure Python (``struct``); starts no process.
"""

from __future__ import annotations

import os
import struct

import attrs

MAGIC = b"\x7fELF"
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29
_PN_XNUM = 0xFFFF
_MAX_TABLE = 1 << 20  # program headers or dynamic entries beyond this are not a real file's
_MAX_STRING = 1 << 16


class ElfError(ValueError):
    """An ELF file whose headers point outside it or make no sense (truncated, or not ELF)."""


@attrs.frozen
class Elf:
    bits: int  # 32 or 64
    big_endian: bool
    machine: int  # e_machine: 62 x86-64, 183 AArch64, 3 i386 ...
    type: int  # e_type: ET_EXEC, ET_DYN (executables, PIEs, shared libraries) ...
    interp: str = ""  # PT_INTERP: the dynamic loader it asks for
    dynamic: bool = False  # has a PT_DYNAMIC segment
    needed: tuple[str, ...] = ()
    soname: str = ""
    rpath: tuple[str, ...] = ()  # DT_RPATH entries, ':'-separated in the file
    runpath: tuple[str, ...] = ()

    @property
    def abi(self) -> tuple[int, bool, int]:
        """What must match between a program and a library the loader gives it."""
        return (self.bits, self.big_endian, self.machine)

    @property
    def loadable(self) -> bool:
        """An executable or shared object the dynamic loader handles (not a .o or a core)."""
        return self.type in (ET_EXEC, ET_DYN) and self.dynamic


def is_elf(head: bytes) -> bool:
    return head[:4] == MAGIC


def _read(fd: int, size: int, offset: int) -> bytes:
    if size < 0 or offset < 0 or size > _MAX_TABLE:
        raise ElfError(f"a table of {size} bytes at {offset}")
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise ElfError(f"truncated: {size} bytes at {offset} are past the end")
    return data


def _string(fd: int, offset: int) -> str:
    """A NUL-terminated string at a file offset, read in small pieces."""
    chunks: list[bytes] = []
    at = offset
    while at - offset < _MAX_STRING:
        chunk = os.pread(fd, 256, at)
        if not chunk:
            raise ElfError(f"string at {offset} runs past the end")
        end = chunk.find(b"\0")
        if end >= 0:
            chunks.append(chunk[:end])
            return b"".join(chunks).decode("utf-8", "surrogateescape")
        chunks.append(chunk)
        at += len(chunk)
    raise ElfError(f"string at {offset} is longer than {_MAX_STRING} bytes")


def _header(fd: int, head: bytes) -> tuple[Elf, str, int, int, int]:
    """The fixed part; also the struct byte order, e_phoff, e_phentsize and e_phnum."""
    if len(head) < 52 or not is_elf(head) or head[4] not in (1, 2) or head[5] not in (1, 2):
        raise ElfError("not an ELF header")
    bits, order = (64 if head[4] == 2 else 32), ("<" if head[5] == 1 else ">")
    e_type, machine = struct.unpack_from(order + "HH", head, 16)
    if bits == 64:
        if len(head) < 64:
            raise ElfError("short ELF64 header")
        phoff, shoff = struct.unpack_from(order + "QQ", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
    else:
        phoff, shoff = struct.unpack_from(order + "II", head, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
    if phnum == _PN_XNUM:  # the real count is in section header 0's sh_info
        info_at = shoff + (44 if bits == 64 else 28)
        (phnum,) = struct.unpack(order + "I", _read(fd, 4, info_at))
    elf = Elf(bits=bits, big_endian=order == ">", machine=machine, type=e_type)
    return elf, order, phoff, phentsize, phnum


def _segments(
    fd: int, elf: Elf, order: str, phoff: int, phentsize: int, phnum: int
) -> list[tuple[int, int, int, int]]:
    """(p_type, p_offset, p_vaddr, p_filesz) of every program header."""
    layout = order + ("IIQQQQ" if elf.bits == 64 else "IIIIII")
    if not phnum:  # a relocatable object, say: nothing for the loader
        return []
    if phentsize < struct.calcsize(layout):
        raise ElfError(f"program header entries of {phentsize} bytes")
    table = _read(fd, phentsize * phnum, phoff)
    found = []
    for at in range(0, len(table), phentsize):
        if elf.bits == 64:
            p_type, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(layout, table, at)
        else:
            p_type, offset, vaddr, _paddr, filesz, _memsz = struct.unpack_from(layout, table, at)
        found.append((p_type, offset, vaddr, filesz))
    return found


def _file_offset(segments: list[tuple[int, int, int, int]], address: int) -> int:
    for p_type, offset, vaddr, filesz in segments:
        if p_type == PT_LOAD and vaddr <= address < vaddr + filesz:
            return offset + address - vaddr
    raise ElfError(f"address {address:#x} is in no loaded segment")


def _dynamic(fd: int, elf: Elf, order: str, offset: int, size: int) -> list[tuple[int, int]]:
    entry = order + ("qQ" if elf.bits == 64 else "iI")
    width = struct.calcsize(entry)
    data = _read(fd, size - size % width, offset)
    tags = []
    for at in range(0, len(data), width):
        tag, value = struct.unpack_from(entry, data, at)
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    return tags


def read_elf(fd: int) -> Elf | None:
    """The loader's view of the file open at ``fd``; None when it is not ELF at all.

    Raises ElfError for an ELF file whose headers do not hold together (truncated, say).
    """
    head = os.pread(fd, 64, 0)
    if not is_elf(head):
        return None
    elf, order, phoff, phentsize, phnum = _header(fd, head)
    segments = _segments(fd, elf, order, phoff, phentsize, phnum)
    interp = next((_string(fd, off) for kind, off, _v, _s in segments if kind == PT_INTERP), "")
    dynamic = next(((off, size) for kind, off, _v, size in segments if kind == PT_DYNAMIC), None)
    if dynamic is None:
        return attrs.evolve(elf, interp=interp)
    tags = _dynamic(fd, elf, order, *dynamic)
    strtab = next((value for tag, value in tags if tag == DT_STRTAB), None)
    if strtab is None:
        return attrs.evolve(elf, interp=interp, dynamic=True)
    base = _file_offset(segments, strtab)

    def strings(wanted: int) -> list[str]:
        return [_string(fd, base + value) for tag, value in tags if tag == wanted]

    def paths(wanted: int) -> tuple[str, ...]:
        return tuple(p for text in strings(wanted) for p in text.split(":") if p)

    sonames = strings(DT_SONAME)
    return attrs.evolve(
        elf,
        interp=interp,
        dynamic=True,
        needed=tuple(strings(DT_NEEDED)),
        soname=sonames[0] if sonames else "",
        rpath=paths(DT_RPATH),
        runpath=paths(DT_RUNPATH),
    )
