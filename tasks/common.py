"""What every storage task shares: the retry policy and the bucket client.

A ``Storage`` is built once per process per S3 configuration. Building one is cheap, but a
fresh client forgets that it has already checked the server's conditional writes, and that
check (two conditional PUTs and a DELETE) would otherwise be paid again by every claim.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE

from tasks.retry import RETRY_DELAYS, transient_only
from wanflow.settings import Settings
from wanflow.storage import Storage

RETRIES = {"retries": 3, "retry_delay_seconds": RETRY_DELAYS, "retry_condition_fn": transient_only}

# The key of a task that keeps Prefect's default cache policy, as it was before settings were
# passed in: the inputs but ``settings`` (secrets stay out of the key, and a setting that does
# not change the task's work does not make it run again), the task's source and the run.
# (``DEFAULT - "settings"`` would not do: it keeps the default's own, unfiltered inputs.)
BY_INPUTS = (INPUTS - "settings") + TASK_SOURCE + RUN_ID

_KEPT = 16  # distinct configurations one process keeps clients for (tests use many buckets)
_STORES: OrderedDict[tuple, Storage] = OrderedDict()
_LOCK = threading.Lock()


def storage_key(settings: Settings) -> tuple:
    """The settings that shape a ``Storage``; the secret only as a hash, so that the key can be
    kept, compared and shown without disclosing it."""
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else ""
    return (
        settings.s3_endpoint,
        settings.s3_access_key,
        hashlib.sha256(secret.encode()).hexdigest(),
        settings.s3_bucket,
        settings.s3_region,
        settings.s3_secure,
        str(settings.s3_ca_bundle) if settings.s3_ca_bundle else None,
        settings.s3_timeout_s,
        settings.s3_retries,
        settings.s3_backoff_s,
        settings.s3_part_size_mb,
        settings.presign_expiry_s,
    )


def storage(settings: Settings) -> Storage:
    """The bucket ``settings`` name, shared by every task of this process that uses it."""
    key = storage_key(settings)
    with _LOCK:
        store = _STORES.get(key)
        if store is not None:
            _STORES.move_to_end(key)
            return store
    store = Storage.from_settings(settings)  # outside the lock: it may raise, it never blocks
    with _LOCK:
        store = _STORES.setdefault(key, store)
        _STORES.move_to_end(key)
        while len(_STORES) > _KEPT:
            _STORES.popitem(last=False)
    return store


__all__ = ["BY_INPUTS", "RETRIES", "storage", "storage_key"]
