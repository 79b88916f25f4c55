"""What the tasks share: one bucket client per S3 configuration, and a GPU shot that an
artifact-API failure cannot fail."""

from __future__ import annotations

from generation.clips import ClipJob
from generation.render import ShotRequest
from tasks.common import storage, storage_key
from wanflow.settings import current_settings
from wanflow.storage import Storage


def test_two_claims_in_one_process_check_conditional_writes_once(wanflow_env, monkeypatch):
    from tasks.manifest import claim_manifest

    probes: list[str] = []
    put_bytes = Storage.put_bytes

    def counting(self, key, *args, **kwargs):
        if ".probe-" in key:
            probes.append(key)
        return put_bytes(self, key, *args, **kwargs)

    monkeypatch.setattr(Storage, "put_bytes", counting)
    # Each claim reads the settings afresh, as two flow runs of one process do.
    store = storage(current_settings())
    for name in ("a.csv", "b.csv"):
        store.put_bytes(f"incoming/{name}", b"prompt\nx\n")
    first = claim_manifest.fn("incoming/a.csv", "owner-1", current_settings())
    second = claim_manifest.fn("incoming/b.csv", "owner-2", current_settings())
    assert first is not None and second is not None
    assert len(probes) == 2  # one check: a conditional PUT that succeeds, one that must fail


def test_one_client_per_configuration_keyed_without_the_secret(wanflow_env):
    settings = current_settings()
    assert storage(settings) is storage(current_settings())
    other = settings.model_copy(update={"s3_bucket": "another-bucket"})
    assert storage(other) is not storage(settings)
    secret = settings.s3_secret_key.get_secret_value()
    assert secret not in repr(storage_key(settings))
    changed = settings.model_copy(update={"s3_secret_key": type(settings.s3_secret_key)("x" * 24)})
    assert storage_key(changed) != storage_key(settings)


def test_a_failing_progress_artifact_does_not_fail_the_shot(
    prefect_api, wanflow_env, storage, monkeypatch
):
    import prefect.artifacts

    from tasks.generate import generate_clip

    updates: list[float] = []

    def refused(artifact_id, progress, *args, **kwargs):
        updates.append(progress)
        raise RuntimeError("the artifact API is down")

    monkeypatch.setattr(prefect.artifacts, "update_progress_artifact", refused)
    request = ShotRequest(
        prompt="海怪从深海升起",
        seed=5,
        width=1280,
        height=720,
        num_frames=9,
        fps=16,
        steps=2,
        guidance=4.0,
        shift=12.0,
    )
    job = ClipJob(item_id="a", shot=1, model="t2v-a14b", request=request)
    record = generate_clip(job, current_settings())
    assert updates and updates[-1] == 100.0  # it was asked, it failed, the shot went on
    assert storage.exists(record.key) and not record.cached


def test_a_tasks_key_ignores_its_settings_as_before_they_were_passed_in():
    from prefect.cache_policies import INPUTS, Inputs, RunId, TaskSource

    from tasks.common import BY_INPUTS

    settings = current_settings()
    (inputs,) = [p for p in BY_INPUTS.policies if isinstance(p, Inputs)]
    assert {type(p) for p in BY_INPUTS.policies} == {Inputs, TaskSource, RunId}
    with_settings = inputs.compute_key(None, {"key": "a", "settings": settings}, {})
    assert with_settings == INPUTS.compute_key(None, {"key": "a"}, {})
    other = settings.model_copy(update={"republish": not settings.republish})
    assert inputs.compute_key(None, {"key": "a", "settings": other}, {}) == with_settings
