"""Prefect's result storage in Wanflow's bucket: task results and background-task parameters
under ``work/prefect-results/``, so that a flow process on one host and GPU workers on others
exchange them without a shared directory.

The storage is the Prefect block ``remote-file-system/wanflow-results`` (fsspec's s3fs). It
holds the base path, the endpoint and the region, and no credentials: Prefect keeps a block's
settings in plain text in its database and returns them unmasked. Each process gives s3fs its
credentials through its own environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), taken
from ``WANFLOW_S3_ACCESS_KEY`` / ``WANFLOW_S3_SECRET_KEY`` by :func:`export_credentials`.

**Setting ``PREFECT_*`` variables after ``import prefect`` changes nothing in this process.**
Prefect builds its process-wide settings once, when ``prefect.context`` is imported
(``GLOBAL_SETTINGS_CONTEXT``), and ``get_current_settings()`` returns that snapshot unless a
``temporary_settings`` block is active in the current context. Hence two ways in:

- :func:`bucket_results`, a context manager around ``prefect.settings.temporary_settings``: in
  effect in its block, and in whatever Prefect runs from there (a flow called in it, a task
  worker's ``serve`` called in it: both copy the calling context into their threads). It works
  whatever was imported or entered before, a temporary Prefect API included. Processes started
  from within need :func:`results_env` in their environment.
- :func:`use_bucket_results`, for a process's entry point (``wanflow gpu-worker``): it exports
  the variables and rebuilds Prefect's process-wide settings from the environment, so that every
  thread from then on sees them, and child processes inherit them. It refuses to run inside a
  ``temporary_settings`` block, whose own settings would hide the change: use
  :func:`bucket_results` there.

A process that Prefect starts with the variables already set (a flow run started by a work
pool that ``wanflow setup`` configured) needs only :func:`export_credentials`;
:func:`bucket_results` does no harm there.

The caller's settings matter on the worker too: a background task carries the Prefect settings
of the process that called ``.delay()`` (serialized with its parameters, in the bucket) and the
worker runs it under them, result storage and API URL included. So both sides must use the
bucket: the worker to read the parameters, the caller so that the worker writes the result in
the bucket, and again when it reads it (``future.result()``): the record of a background task's
result names no block, so the reader's own default storage resolves it. With the parameters
Prefect stores those settings whole, its API key or auth string included when set; Wanflow's S3
keys are no Prefect setting and never travel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from wanflow import keys
from wanflow.settings import Settings

RESULTS_BLOCK = "wanflow-results"
RESULTS_BLOCK_TYPE = "remote-file-system"
RESULTS_BLOCK_SLUG = f"{RESULTS_BLOCK_TYPE}/{RESULTS_BLOCK}"
RESULTS_PREFIX = keys.join(keys.WORK, "prefect-results") + "/"

Outcome = Literal["created", "updated", "unchanged"]


def results_basepath(settings: Settings) -> str:
    """``s3://<bucket>/work/prefect-results``: where Prefect writes."""
    return f"s3://{settings.s3_bucket}/{RESULTS_PREFIX.rstrip('/')}"


def block_settings(settings: Settings) -> dict[str, Any]:
    """The block's fsspec settings: endpoint and region, never a credential.

    Raises ``ValueError`` without ``WANFLOW_S3_ENDPOINT``: every host must reach the same S3
    server, which a local one started by ``wanflow run`` is not.
    """
    if not settings.s3_endpoint:
        raise ValueError(
            "WANFLOW_S3_ENDPOINT is not set: Prefect's result storage is the bucket on the S3 "
            "server every host reaches; set it to that server's host:port"
        )
    scheme = "https" if settings.s3_secure else "http"
    client = {"endpoint_url": f"{scheme}://{settings.s3_endpoint}"}
    if settings.s3_region:
        client["region_name"] = settings.s3_region
    return {"client_kwargs": client}


def results_env() -> dict[str, str]:
    """The Prefect settings that put results and background-task parameters in the bucket, as
    environment variables: for a process started from this one, or a work pool's flow runs."""
    return {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK_SLUG,
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK_SLUG,
    }


def export_credentials(settings: Settings) -> None:
    """Give s3fs (botocore) in this process, and processes it starts, Wanflow's S3 credentials.

    Sets ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_CA_BUNDLE`` when
    ``WANFLOW_S3_CA_BUNDLE`` is set); drops an ``AWS_SESSION_TOKEN``, which belongs to other keys.
    Nothing is logged. Call it before Prefect first reads or writes a result: s3fs resolves
    credentials once, when it first connects.
    """
    os.environ["AWS_ACCESS_KEY_ID"] = settings.s3_access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
    os.environ.pop("AWS_SESSION_TOKEN", None)
    if settings.s3_ca_bundle is not None:
        os.environ["AWS_CA_BUNDLE"] = str(settings.s3_ca_bundle)


def ensure_results_block(settings: Settings) -> Outcome:
    """Create or update the block ``remote-file-system/wanflow-results`` on the Prefect server
    of the current settings; ``"unchanged"`` when it already says what ``settings`` say. An
    existing block's credentials, if someone saved any, are removed by the update."""
    from prefect.filesystems import RemoteFileSystem

    wanted = RemoteFileSystem(
        basepath=results_basepath(settings), settings=block_settings(settings)
    )
    try:
        existing = RemoteFileSystem.load(RESULTS_BLOCK)
    except ValueError:  # Prefect's way of saying "no such block"
        existing = None
    if existing is not None and (existing.basepath, existing.settings) == (
        wanted.basepath,
        wanted.settings,
    ):
        return "unchanged"
    wanted.save(RESULTS_BLOCK, overwrite=True)
    return "created" if existing is None else "updated"


def _forget_loaded_storage() -> None:
    """Prefect keeps each default storage it has loaded, by slug, for the life of the process
    (``prefect.results._default_storages``, 3.8): a process that loaded the block before it was
    re-pointed (here or by another process) would go on writing to the old location."""
    from prefect import results as prefect_results

    prefect_results._default_storages.clear()


@contextmanager
def bucket_results(settings: Settings) -> Iterator[None]:
    """Within the block, Prefect persists results and background-task parameters in the
    bucket: credentials exported, the block ensured, the settings of :func:`results_env` in
    effect (for this context and what Prefect runs from it; see the module's docstring)."""
    from prefect.settings import (
        PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
        PREFECT_RESULTS_PERSIST_BY_DEFAULT,
        PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK,
        temporary_settings,
    )

    ensure_results_block(settings)
    _forget_loaded_storage()
    export_credentials(settings)
    updates = {
        PREFECT_RESULTS_PERSIST_BY_DEFAULT: True,
        PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: RESULTS_BLOCK_SLUG,
        PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK: RESULTS_BLOCK_SLUG,
    }
    with temporary_settings(updates=updates):
        yield


def use_bucket_results(settings: Settings) -> None:
    """From now on, for the whole process and the processes it starts, Prefect persists results
    and background-task parameters in the bucket. For an entry point such as a GPU worker.

    Raises ``RuntimeError`` inside a ``temporary_settings`` block (its settings would hide the
    change; use :func:`bucket_results` there).
    """
    from prefect.context import SettingsContext, refresh_global_settings_context

    if SettingsContext.__var__.get(None) is not None:
        raise RuntimeError(
            "use_bucket_results: Prefect settings of a temporary_settings block are in effect "
            "here and would hide the change; wrap the work in bucket_results(settings) instead"
        )
    ensure_results_block(settings)
    _forget_loaded_storage()
    export_credentials(settings)
    os.environ.update(results_env())
    refresh_global_settings_context()
