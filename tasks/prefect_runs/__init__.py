"""Every use of Prefect's private or version-specific parts, in one place, so that a Prefect
upgrade is checked and fixed here (``tests/tasks/test_prefect_runs.py`` runs each against a real
Prefect API).

What it covers: the flow run the caller is in; run input (Prefect names the stored answer to a
pause after the state it paused in, ``paused-<key>-response`` or ``suspended-<key>-response``);
pausing, suspending and resuming a run for input, and forcing a run that timed out waiting back
to running; reading task runs by id and forcing one Crashed; whether a task ran past its
timeout; the GPU worker's subscription to its background tasks, which uses private parts of
``prefect.task_worker.TaskWorker`` (3.8); and, for the web service, the ``produce-manifest`` run
that took a job's manifest (found by the run's name, ``produce <state>/api/<job-id>.json``,
however it was started), cancelling it, and whether the API answers.
"""

from __future__ import annotations

from tasks.prefect_runs.runs import (
    FlowRunInfo,
    api_url,
    cancel_flow_run,
    crash_task_run,
    current_flow_run,
    find_flow_runs,
    force_running,
    is_task_timeout,
    prefect_reachable,
    prefect_settings_here,
    read_reply,
    read_run_input,
    read_task_runs,
    reply_key_prefixes,
    results_persisted,
    resume,
    set_cancelled,
    wait_for_input,
    waiting_flow_runs,
    write_run_input,
)
from tasks.prefect_runs.worker import RunObserver, SubscribedTaskWorker

__all__ = [
    "FlowRunInfo",
    "RunObserver",
    "SubscribedTaskWorker",
    "api_url",
    "cancel_flow_run",
    "crash_task_run",
    "current_flow_run",
    "find_flow_runs",
    "force_running",
    "is_task_timeout",
    "prefect_reachable",
    "prefect_settings_here",
    "read_reply",
    "read_run_input",
    "read_task_runs",
    "reply_key_prefixes",
    "results_persisted",
    "resume",
    "set_cancelled",
    "wait_for_input",
    "waiting_flow_runs",
    "write_run_input",
]
