"""The clip cache in the real bucket vouches for its clips: a clip swapped or cut short in
work/clips/ is rendered again, never reused or passed on as the model's output."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.generation.test_generate import request

pytestmark = pytest.mark.slow


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_swapped_or_truncated_cached_clip_is_rendered_again(
    prefect_api, wanflow_env, storage, monkeypatch
):
    from generation.clips import ClipJob
    from generation.render import Renderer
    from tasks.generate import generate_clip
    from wanflow.settings import Settings

    renders = []
    render = Renderer.render

    def counted(self, *args, **kwargs):
        renders.append(1)
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Renderer, "render", counted)
    job = ClipJob(item_id="a", shot=1, model="t2v-a14b", request=request(seed=41))
    settings = Settings()  # wanflow_env's: the test bucket, the tiny models
    made = generate_clip(job, settings)
    assert not made.cached and len(renders) == 1
    meta_key = made.key.replace("clip.mp4", "meta.json")
    meta = json.loads(storage.get_bytes(meta_key))
    model_output = storage.get_bytes(made.key)
    assert meta["sha256"] == _sha(model_output) == made.sha256
    assert meta["last_frame_sha256"] == _sha(storage.get_bytes(made.last_frame_key))

    # Intact: reused without the GPU.
    assert generate_clip(job, settings).cached and len(renders) == 1

    for tamper in (b"not the model's video", model_output[: len(model_output) // 2]):
        storage.put_bytes(made.key, tamper, content_type="video/mp4")
        again = generate_clip(job, settings)
        assert not again.cached, "a tampered clip was reused"
        assert again.warnings and "does not match its checksum" in again.warnings[0]
        stored = storage.get_bytes(made.key)
        assert stored != tamper and _sha(stored) == again.sha256
        assert json.loads(storage.get_bytes(meta_key))["sha256"] == _sha(stored)
    assert len(renders) == 3
    # The re-render is trusted again.
    assert generate_clip(job, settings).cached and len(renders) == 3
