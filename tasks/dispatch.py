"""Shots to the GPU fleet, items back as soon as their shots exist.

Prefect does the scheduling: each shot becomes a background task run (``tasks.fleet``) that the
next free GPU worker serving its model family takes, in the order they were dispatched. What is
left to the dispatcher is what Prefect does not do:

- **Order within an item.** Shots of an item that continue its story wait for the shot before
  (they start from its last frame); the others go out at once, in manifest order.
- **Items as they finish.** ``Dispatcher.items()`` yields an item the moment its last shot is
  in, so its review, composition and publication start while other items still render.
- **Workers that die.** Prefect leaves a SIGKILLed worker's task run RUNNING forever, and the run
  it had received but not started SCHEDULED. Each worker's record in the bucket lists both; a
  record that stops changing for ``WANFLOW_WORKER_STALE_S`` (by this process's clock) or says
  it is stopping marks its shots orphaned: they are forced Crashed and dispatched again. A clip's
  key is the hash of its inputs, so a shot rendered twice is stored once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from pydantic import BaseModel

from generation.clips import ClipJob
from generation.models import resolve_model
from tasks.prefect_runs import crash_task_run, read_task_runs
from wanflow.clip import Clip
from wanflow.fleet import WorkerBeat, read_beats
from wanflow.settings import Settings

MAX_ATTEMPTS = 3  # dispatches of one shot whose workers died under it


class ShotFailure(BaseModel):
    item_id: str
    shot: int
    error: str


Result = Clip | ShotFailure


@dataclass
class _Sent:
    job: ClipJob
    attempt: int
    task_run_id: UUID
    sent_at: float
    history: list[str] = field(default_factory=list)  # why it was sent again


@dataclass
class _Item:
    jobs: list[ClipJob]
    chained: bool  # each shot starts from the last frame of the one before
    results: dict[int, Result] = field(default_factory=dict)
    next: int = 0  # index of the next job to send

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.jobs)


class Liveness:
    """Which workers are alive, judged by whether their records change (by this clock), and
    which of the live ones have sat idle for as long."""

    def __init__(self, stale_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_s, self.clock = stale_s, clock
        self._seen: dict[str, tuple[int, float]] = {}  # worker → (seq, when it last changed)
        self._idle: dict[str, float] = {}  # worker → since when it holds no shot

    def dead(self, beats: list[WorkerBeat]) -> list[WorkerBeat]:
        now, dead = self.clock(), []
        for beat in beats:
            seq, since = self._seen.get(beat.worker, (None, now))
            if seq != beat.seq:
                self._seen[beat.worker] = (beat.seq, now)
                since = now
            if beat.running or beat.waiting:
                self._idle.pop(beat.worker, None)
            else:
                self._idle.setdefault(beat.worker, now)
            if beat.stopping or now - since >= self.stale_s:
                dead.append(beat)
        return dead

    def idle_families(self, beats: list[WorkerBeat], dead: list[WorkerBeat]) -> set[str]:
        """Families some live worker has served while holding nothing for ``stale_s``: Prefect
        would have handed it any shot of theirs still queued on the server."""
        gone, now = {b.worker for b in dead}, self.clock()
        idle: set[str] = set()
        for beat in beats:
            since = self._idle.get(beat.worker)
            if beat.worker not in gone and since is not None and now - since >= self.stale_s:
                idle.update(beat.serves)
        return idle


class Dispatcher:
    """Sends ``jobs`` to the fleet and yields ``(item_id, results in shot order)`` per item."""

    def __init__(
        self,
        jobs: list[ClipJob],
        settings: Settings,
        store,
        *,
        priority: str = "normal",
        poll_s: float = 0.5,
    ):
        from tasks.fleet import family

        self.settings, self.store, self.poll_s = settings, store, poll_s
        self.priority = priority
        self._items: dict[str, _Item] = {}
        for job in jobs:
            item = self._items.setdefault(job.item_id, _Item(jobs=[], chained=False))
            item.jobs.append(job)
        for item in self._items.values():
            item.chained = any(j.continue_story for j in item.jobs[1:]) and family(
                item.jobs[0], settings
            ) in ("i2v", "ti2v")
        self._sent: dict[UUID, _Sent] = {}
        self._liveness = Liveness(settings.worker_stale_s)
        self._beats_read = float("-inf")
        self._reported: set[str] = set()  # items already yielded
        self._progress = None
        self._done = 0  # shots finished
        self.redispatched: list[tuple[str, int, str]] = []  # (item, shot, why)

    def items(self) -> Iterator[tuple[str, list[Result]]]:
        from prefect import get_client

        from tasks.artifacts import ProgressArtifact

        shots = sum(len(item.jobs) for item in self._items.values())
        self._progress = ProgressArtifact(shots, f"rendering {shots} shot(s) on the GPU fleet")
        for item in self._items.values():  # manifest order
            self._send_ready(item)
        pause = self.poll_s
        with get_client(sync_client=True) as client:
            while self._sent or len(self._reported) < len(self._items):
                done = self._done
                finished = self._poll(client)
                for item_id in finished:
                    item = self._items[item_id]
                    yield item_id, [item.results[j.shot] for j in item.jobs]
                # Each poll costs the API and this process CPU: while nothing finishes (long
                # shots), poll less and less often, up to every 4 poll intervals.
                pause = self.poll_s if self._done > done else min(4 * self.poll_s, pause * 1.5)
                if self._sent and not finished:
                    time.sleep(pause)

    # --- sending ---------------------------------------------------------------------------

    def _send_ready(self, item: _Item) -> None:
        while item.next < len(item.jobs):
            job = item.jobs[item.next]
            if item.chained and item.next > 0:
                before = item.results.get(item.jobs[item.next - 1].shot)
                if before is None:
                    return  # still rendering: this shot starts from its last frame
                if isinstance(before, ShotFailure):
                    self._fail_rest(item, f"shot {before.shot} failed")
                    return
                if job.continue_story:
                    job = job.model_copy(update={"image_key": before.last_frame_key})
            item.next += 1
            self._send(job, attempt=1)
            if item.chained:
                return

    def _send(self, job: ClipJob, attempt: int, history: list[str] | None = None) -> None:
        from tasks.fleet import task_for

        future = task_for(job, self.settings, self.priority).delay(job, attempt)
        sent = _Sent(job, attempt, future.task_run_id, time.monotonic(), list(history or []))
        self._sent[future.task_run_id] = sent

    def _fail_rest(self, item: _Item, why: str) -> None:
        for job in item.jobs[item.next :]:
            item.results[job.shot] = ShotFailure(item_id=job.item_id, shot=job.shot, error=why)
        item.next = len(item.jobs)

    # --- collecting ------------------------------------------------------------------------

    def _poll(self, client) -> list[str]:
        """Collect finished shots; re-send orphans; the items that became complete."""
        ids = list(self._sent)
        runs = read_task_runs(client, ids)
        finished: list[str] = []
        waiting: list[tuple[_Sent, bool]] = []  # (shot, whether a worker started it)
        for gone in set(ids) - {run.id for run in runs}:
            # Deleted: a worker that could not read a run's parameters deletes it. Never
            # final, it would be waited for for ever.
            self._resend(client, self._sent[gone], "its task run was deleted", crash=False)
        for run in runs:
            sent = self._sent.get(run.id)
            if sent is None or run.state is None:
                continue
            if not run.state.is_final():
                waiting.append((sent, run.state.is_running()))
                continue
            del self._sent[run.id]
            item = self._items[sent.job.item_id]
            result = _result(sent.job, run.state)
            if isinstance(result, Clip) and sent.history:
                result.warnings += [f"{why}: dispatched again" for why in sent.history]
            item.results[sent.job.shot] = result
            self._done += 1
            if self._progress is not None:
                self._progress.advance(f"({sent.job.item_id} shot {sent.job.shot})")
            self._send_ready(item)
        if waiting:
            self._resend_orphans(client, waiting)
        for item_id, item in self._items.items():
            if item.done and item_id not in self._reported:
                self._reported.add(item_id)
                finished.append(item_id)
        return finished

    def _resend_orphans(self, client, waiting: list[tuple[_Sent, bool]]) -> None:
        """Shots a dead worker held, and queued shots no worker holds while one that serves
        their family sits idle (a worker killed between taking a shot and its next record, or a
        Prefect server restarted, which forgets its queue): Crashed, and sent again."""
        from tasks.fleet import family

        now = time.monotonic()
        if now - self._beats_read < min(1.0, self.settings.worker_heartbeat_s / 2):
            return
        self._beats_read = now
        beats = read_beats(self.store)
        dead = self._liveness.dead(beats)
        idle = self._liveness.idle_families(beats, dead)
        for sent, started in waiting:
            run_id = str(sent.task_run_id)
            holder = next((b for b in dead if b.holds(run_id)), None)
            if holder is not None:
                stopped = "stopped" if holder.stopping else "stopped answering"
                self._resend(client, sent, f"worker {holder.worker} {stopped}")
            elif (
                not started
                and now - sent.sent_at >= self.settings.worker_stale_s
                and family(sent.job, self.settings) in idle
                and not any(b.holds(run_id) for b in beats)
            ):
                self._resend(client, sent, "no worker took it while one was idle")

    def _resend(self, client, sent: _Sent, why: str, *, crash: bool = True) -> None:
        if crash:
            crash_task_run(client, sent.task_run_id, why)
        del self._sent[sent.task_run_id]
        job = sent.job
        self.redispatched.append((job.item_id, job.shot, why))
        if sent.attempt >= MAX_ATTEMPTS:
            item = self._items[job.item_id]
            item.results[job.shot] = ShotFailure(
                item_id=job.item_id, shot=job.shot, error=f"{why}, {sent.attempt} times"
            )
            self._fail_rest(item, f"shot {job.shot} failed")
            return
        self._send(job, sent.attempt + 1, [*sent.history, why])


def _result(job: ClipJob, state) -> Result:
    if state.is_completed():
        value = state.result()
        return value if isinstance(value, Clip) else Clip.model_validate(value)
    try:
        raised = state.result(raise_on_failure=False)
    except Exception as exc:  # the result itself could not be read
        raised = exc
    if isinstance(raised, BaseException):
        error = f"{type(raised).__name__}: {raised}"
    else:
        error = f"{state.name}: {state.message or 'no message'}"
    return ShotFailure(item_id=job.item_id, shot=job.shot, error=error)


def _takes_image(job: ClipJob, settings: Settings) -> bool:
    return resolve_model(job.model, settings).task in ("i2v", "ti2v")


def render_here(jobs: list[ClipJob], settings: Settings) -> Iterator[tuple[str, list[Result]]]:
    """Without a Prefect server (the ephemeral API has no task workers): every shot in this
    process, in order, each item yielded when its shots are done."""
    from tasks.generate import generate_clip

    by_item: dict[str, list[ClipJob]] = {}
    for job in jobs:
        by_item.setdefault(job.item_id, []).append(job)
    for item_id, item_jobs in by_item.items():
        results: list[Result] = []
        before: Result | None = None
        for job in item_jobs:
            if isinstance(before, ShotFailure):
                results.append(
                    ShotFailure(item_id=item_id, shot=job.shot, error=f"shot {before.shot} failed")
                )
                continue
            if before is not None and job.continue_story and _takes_image(job, settings):
                job = job.model_copy(update={"image_key": before.last_frame_key})
            try:
                outcome: Result = generate_clip(job, settings)
            except Exception as exc:  # one shot's failure is its item's
                outcome = ShotFailure(
                    item_id=item_id, shot=job.shot, error=f"{type(exc).__name__}: {exc}"
                )
            results.append(outcome)
            before = outcome
        yield item_id, results
