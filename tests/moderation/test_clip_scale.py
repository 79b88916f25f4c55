"""OpenCLIP at scale: a model is loaded once per process however many classifiers and reviews
ask for it, batches give the numbers single frames give, and review without CLIP weights
never imports torch (a second or more of start-up for nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moderation.zeroshot import ZeroShotClassifier
from tests.moderation.test_zeroshot import MODEL, frames

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Each OpenCLIP model built (the real builder runs), from an empty process-wide cache, so
    what another test loaded does not count."""
    import open_clip

    from moderation import zeroshot

    monkeypatch.setattr(zeroshot, "_MODELS", {})

    built: list[str] = []
    create = open_clip.create_model_and_transforms

    def counted(name, *args, **kwargs):
        built.append(name)
        return create(name, *args, **kwargs)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", counted)
    return built


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from safetensors.torch import save_file

    model = ZeroShotClassifier.random_weights(MODEL, seed=31).module
    path = tmp_path_factory.mktemp("clip") / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_one_load_for_every_classifier_of_the_same_weights(checkpoint, loads):
    first = ZeroShotClassifier(MODEL, checkpoint, batch_size=4)
    second = ZeroShotClassifier(MODEL, checkpoint, batch_size=2)
    a, b = first.probabilities(frames(3)), second.probabilities(frames(3))
    assert loads == [MODEL]
    assert first.module is second.module
    np.testing.assert_allclose(a, b, atol=1e-5)
    ZeroShotClassifier.random_weights(MODEL, seed=32).load()  # other weights: a model of their own
    assert len(loads) == 2


def test_two_reviews_in_one_process_load_the_model_once(checkpoint, loads, tmp_path):
    from moderation.item_review import review_clip_file
    from wanflow.settings import Settings
    from wanflow.video import write_mp4

    video = np.zeros((17, 64, 64, 3), np.uint8)
    video[8:] = 200
    clip = write_mp4(video, tmp_path / "clip.mp4", 16)
    for model_cache in (tmp_path, None):  # two configurations, so two sets of classifiers
        settings = Settings(clip_model=MODEL, clip_weights=str(checkpoint), model_cache=model_cache)
        review = review_clip_file(clip, settings)
        assert not any("openclip" in failure for failure in review.verdict.failures)
        assert f"openclip:{MODEL}" in review.seconds
    assert loads == [MODEL]


def test_batches_give_the_numbers_of_single_frames(checkpoint):
    batched = ZeroShotClassifier(MODEL, checkpoint, batch_size=5).probabilities(frames(5))
    single = ZeroShotClassifier(MODEL, checkpoint, batch_size=1)
    np.testing.assert_allclose(single.probabilities(frames(5)), batched, atol=1e-5)
    for i, frame in enumerate(frames(5)):
        np.testing.assert_allclose(single.probabilities([frame])[0], batched[i], atol=1e-5)


def test_review_without_clip_weights_imports_no_torch(tmp_path):
    script = """
import json, sys
import numpy as np
from moderation.item_review import review_clip_file
from wanflow.settings import Settings
from wanflow.video import write_mp4

clip = write_mp4(np.zeros((9, 32, 32, 3), np.uint8), sys.argv[1], 8)
review = review_clip_file(clip, Settings())
loaded = sorted(m for m in ("torch", "open_clip", "torchvision") if m in sys.modules)
print(json.dumps({"loaded": loaded, "decision": review.verdict.decision,
                  "failures": review.verdict.failures}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "clip.mp4")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    # Still fail-closed: the missing opinion sends the clip to a person.
    assert result["decision"] != "pass"
    assert any("WANFLOW_CLIP_WEIGHTS" in failure for failure in result["failures"])
