"""Reading an offline W&B run back (WANDB_MODE=offline): its run-ID.wandb file is a log of
protobuf records in LevelDB's log format (32 KiB blocks; each piece a 7-byte header: checksum,
length, type FULL/FIRST/MIDDLE/LAST), after a 7-byte file header ':W&B' + magic + version. wandb no
longer ships a reader, so the tests carry this one."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def raw_records(path: Path):
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk


@dataclass
class OfflineRun:
    folder: Path
    id: str = ""
    name: str = ""
    project: str = ""
    group: str = ""
    tags: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # one dict per log call, values decoded from JSON

    def rows_at(self, step: int) -> dict:
        """Every key logged at this step (several log calls merged)."""
        merged = {}
        for row in self.history:
            if row.get("step") == step:
                merged.update(row)
        return merged


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read(folder: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(folder).glob("run-*.wandb")
    run = OfflineRun(Path(folder))
    for raw in raw_records(path):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id, run.name, run.project, run.group, run.tags = r.run_id, r.display_name, r.project, r.run_group, list(r.tags)
            run.config.update({_key(i): json.loads(i.value_json) for i in r.config.update if _key(i) != "_wandb"})
        elif kind == "history":
            run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item if not _key(i).startswith("_")})
    return run


def offline_runs(wandb_dir: Path) -> list[OfflineRun]:
    """Every offline run under WANDB_DIR, oldest first."""
    return [read(folder) for folder in sorted((Path(wandb_dir) / "wandb").glob("offline-run-*"))]
