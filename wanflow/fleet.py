"""The GPU fleet's records in the bucket: each worker's heartbeat, the only thing a dispatcher
needs to know about workers it cannot see.

A worker rewrites its record every ``WANFLOW_WORKER_HEARTBEAT_S``; ``seq`` grows with every
write. A dispatcher judges liveness by watching ``seq`` change against its *own* monotonic
clock, never by comparing timestamps written on another host, so clock skew between hosts
cannot make a live worker look dead or a dead one alive.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from wanflow import keys

WORKERS = keys.join(keys.WORK, "fleet", "workers") + "/"


class WorkerBeat(BaseModel):
    """One GPU worker as it last described itself."""

    worker: str = Field(description="host-gpu-pid: unique per process")
    host: str
    pid: int
    gpu: str | None = Field(None, description="CUDA_VISIBLE_DEVICES of the process")
    serves: list[str] = Field(description="model families whose shots it takes")
    seq: int = 0
    started_at: datetime
    updated_at: datetime
    running: list[str] = Field(default_factory=list, description="task run ids it executes")
    waiting: list[str] = Field(
        default_factory=list, description="task run ids it has received but not started"
    )
    resident: list[str] = Field(default_factory=list, description="models loaded now")
    loads: dict[str, int] = Field(default_factory=dict, description="loads per model")
    shots: int = Field(0, description="shots finished (rendered or failed)")
    busy_s: float = Field(0.0, description="seconds spent executing shots")
    stopping: bool = Field(False, description="draining or stopped: takes no new shot")

    @property
    def key(self) -> str:
        return beat_key(self.worker)

    def holds(self, task_run_id: str) -> bool:
        return task_run_id in self.running or task_run_id in self.waiting


def worker_name(gpu: str | None, pid: int) -> str:
    host = socket.gethostname() or "host"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in host)[:64]
    return f"{safe}-gpu{(gpu or 'none').replace(',', '+')}-{pid}"


def beat_key(worker: str) -> str:
    return keys.join(WORKERS.rstrip("/"), f"{worker}.json")


def write_beat(store, beat: WorkerBeat) -> None:
    beat.updated_at = datetime.now(UTC)
    data = json.dumps(beat.model_dump(mode="json"), ensure_ascii=False).encode()
    store.put_bytes(beat.key, data, content_type="application/json")


def read_beats(store) -> list[WorkerBeat]:
    """Every worker record in the bucket (unreadable ones skipped: a half-written record is
    simply read again next time)."""
    beats = []
    for obj in store.list(WORKERS):
        if not obj.key.endswith(".json"):
            continue
        try:
            beats.append(WorkerBeat.model_validate_json(store.get_bytes(obj.key)))
        except Exception:  # deleted or half-written between list and get
            continue
    return beats
