"""Read the history rows back from an offline W&B run file (``run-*.wandb``).

The file is a LevelDB-style log: a 7-byte W&B header, then 32 KiB blocks of chunks, each
with a 7-byte header (CRC32C: 4 bytes, length: 2 bytes little-endian, type: 1 byte) and a
piece of one serialised ``wandb_internal_pb2.Record``. W&B 0.31 ships no Python reader.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[bytes]:
    """The serialised records in the file, chunks joined."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    out, pending, at = [], b"", FILE_HEADER
    while at + CHUNK_HEADER <= len(data):
        if BLOCK - at % BLOCK < CHUNK_HEADER:  # a block's tail too short for a header is padding
            at += BLOCK - at % BLOCK
            continue
        length, kind = struct.unpack("<HB", data[at + 4 : at + CHUNK_HEADER])
        piece = data[at + CHUNK_HEADER : at + CHUNK_HEADER + length]
        at += CHUNK_HEADER + length
        pending = piece if kind in (FULL, FIRST) else pending + piece
        if kind in (FULL, LAST):
            out.append(pending)
    return out


def history(path: Path) -> list[dict[str, Any]]:
    """The rows logged with ``run.log``, in order, as ``{key: value}``."""
    from wandb.proto import wandb_internal_pb2

    rows = []
    for raw in records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items})
    return rows
