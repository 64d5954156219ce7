"""Pack files as git reads them: a version-2 pack of whole objects and its version-2 index.

mltrack writes each commit's new objects as one pack (one file instead of one per object);
the formats are git's ``gitformat-pack``: ``PACK``, version, object count, each object as a
type-and-size header and its zlib stream, the SHA-1 of it all; the ``.idx`` holds a fan-out
table, the sorted ids, CRC-32s and offsets. ``git verify-pack`` checks both in the tests.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from hashlib import sha1

from mltrack.gitstore.objects import deflate

__all__ = ["build_pack"]

_PACK_TYPES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}


def build_pack(objects: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, bytes, str]:
    """A version-2 pack of whole (undeltified) objects, its version-2 index and its name."""
    pack = bytearray(b"PACK" + struct.pack(">II", 2, len(objects)))
    offsets: dict[bytes, int] = {}
    crcs: dict[bytes, int] = {}
    for sha, (kind, data) in objects.items():
        size = len(data)
        byte = (_PACK_TYPES[kind] << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        header.append(byte)
        entry = bytes(header) + deflate(data, kind)
        key = bytes.fromhex(sha)
        offsets[key] = len(pack)
        crcs[key] = zlib.crc32(entry)
        pack += entry
    pack_sha = sha1(pack).digest()
    pack += pack_sha
    names = sorted(offsets)
    fanout = [0] * 256
    for key in names:
        fanout[key[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    large = [offsets[key] for key in names if offsets[key] >= 0x80000000]
    small: list[int] = []
    for key in names:
        offset = offsets[key]
        small.append(offset if offset < 0x80000000 else 0x80000000 | large.index(offset))
    index = bytearray(b"\xfftOc" + struct.pack(">I", 2))
    index += struct.pack(">256I", *fanout)
    index += b"".join(names)
    index += struct.pack(f">{len(names)}I", *(crcs[key] for key in names))
    index += struct.pack(f">{len(names)}I", *small)
    index += struct.pack(f">{len(large)}Q", *large)
    index += pack_sha
    index += sha1(index).digest()
    return bytes(pack), bytes(index), pack_sha.hex()
