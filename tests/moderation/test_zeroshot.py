"""The OpenCLIP zero-shot classifier's wiring, on random weights built offline (their scores mean
nothing; shapes, batching, caching, loading and failing closed are what is checked)."""

from __future__ import annotations

import json
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from moderation.clip_prompts import DEFAULT_PROMPTS, DEFAULT_SAFE_PROMPTS, SAFE, default_prompts
from moderation.clip_weights import WEIGHTS_SETTING
from moderation.signals import ClassifierError, Frame
from moderation.zeroshot import ZeroShotClassifier

torch.set_num_threads(1)

MODEL = "ViT-S-32"  # the smallest architecture open_clip builds offline


def frames(n: int = 5) -> list[Frame]:
    """Distinct images of different sizes, so the model's own resize and crop are exercised."""
    rng = np.random.default_rng(7)
    shapes = [(48, 64), (64, 48), (32, 32), (40, 72), (56, 56)]
    return [
        Frame(
            index=10 + i,
            time_s=0.5 * i,
            image=rng.integers(0, 256, (*shapes[i % 5], 3), dtype=np.uint8),
            reason="first" if i == 0 else "rate",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def random_clf() -> ZeroShotClassifier:
    classifier = ZeroShotClassifier.random_weights(MODEL, batch_size=2)
    classifier.load()
    return classifier


@pytest.fixture(scope="module")
def checkpoint(random_clf, tmp_path_factory):
    """The random model's weights as a .safetensors file, written once for every loading test."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("ckpt") / "random.safetensors"
    save_file({k: v.contiguous() for k, v in random_clf.module.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def expected(random_clf) -> np.ndarray:
    return random_clf.probabilities(frames())


def _counting(module, method: str, monkeypatch) -> list[int]:
    calls = [0]
    original = getattr(module, method)

    def wrapped(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, method, wrapped)
    return calls


def test_one_score_per_frame_and_category_batched(random_clf, monkeypatch):
    batches = _counting(random_clf.module, "encode_image", monkeypatch)
    scores = random_clf.score(frames())
    assert batches[0] == 3  # 5 frames at batch_size=2
    assert set(random_clf.categories) == {"violence", "gore", "blood", "weapons", "sexual"}
    assert len(scores) == 5 * len(random_clf.categories)
    seen = {(s.frame, s.category) for s in scores}
    assert seen == {(10 + i, c) for i in range(5) for c in random_clf.categories}
    prompts = {c: set(DEFAULT_PROMPTS[c]["en"]) for c in DEFAULT_PROMPTS}
    for s in scores:
        assert 0.0 <= s.score <= 1.0
        assert s.time_s == pytest.approx(0.5 * (s.frame - 10))
        prefix = f"openclip:{MODEL}[random]:"
        assert s.source.startswith(prefix)
        assert s.source.removeprefix(prefix) in prompts[s.category]
    assert SAFE not in {s.category for s in scores}


def test_probabilities_sum_to_one_and_make_the_scores(random_clf, expected):
    assert expected.shape == (5, len(random_clf.labels))
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-6)
    assert (expected >= 0).all()
    by_key = {(s.frame, s.category): s for s in random_clf.score(frames())}
    for row, frame in zip(expected, frames(), strict=True):
        for category in random_clf.categories:
            columns = [i for i, (c, _) in enumerate(random_clf.labels) if c == category]
            score = by_key[(frame.index, category)]
            assert score.score == pytest.approx(row[columns].sum(), abs=1e-6)
            best = max(columns, key=lambda i: row[i])
            assert score.source.endswith(":" + random_clf.labels[best][1])


def test_batching_does_not_change_the_numbers(random_clf, expected):
    whole = ZeroShotClassifier.random_weights(MODEL, batch_size=5)
    whole._loaded, whole._text = random_clf.load(), random_clf.text_features()
    np.testing.assert_allclose(whole.probabilities(frames()), expected, atol=1e-5)
    one = whole.probabilities(frames()[3:4])
    np.testing.assert_allclose(one[0], expected[3], atol=1e-5)


def test_text_embeddings_are_computed_once(monkeypatch):
    classifier = ZeroShotClassifier.random_weights(MODEL, batch_size=4)
    calls = _counting(classifier.module, "encode_text", monkeypatch)
    first = classifier.probabilities(frames(3))
    second = classifier.score(frames(2))
    assert calls[0] == 1
    assert len(second) == 2 * len(classifier.categories)
    np.testing.assert_allclose(classifier.probabilities(frames(3)), first)
    assert calls[0] == 1


def test_same_seed_same_random_model(random_clf, expected):
    again = ZeroShotClassifier.random_weights(MODEL, batch_size=2)
    np.testing.assert_allclose(again.probabilities(frames()), expected, atol=1e-6)


def test_no_weights_fails_closed_naming_the_setting():
    unset = ZeroShotClassifier()
    expected = re.escape(f"no OpenCLIP weights configured ({WEIGHTS_SETTING} is unset)")
    with pytest.raises(ClassifierError, match=expected):
        unset.score(frames(1))
    with pytest.raises(ClassifierError, match=WEIGHTS_SETTING):
        unset.score([])  # no frames is no excuse: an unconfigured check never passes
    from_settings = ZeroShotClassifier.from_settings(
        SimpleNamespace(clip_model="ViT-B-32", clip_weights=None, model_cache=None, device="auto")
    )
    assert from_settings.name == "openclip:ViT-B-32"
    with pytest.raises(ClassifierError, match=WEIGHTS_SETTING):
        from_settings.score(frames(1))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_checkpoint_file_round_trip(random_clf, checkpoint, expected, tmp_path, suffix):
    path = checkpoint
    if suffix == ".pt":
        path = tmp_path / "random.pt"
        torch.save(random_clf.module.state_dict(), path)
    loaded = ZeroShotClassifier(MODEL, weights=path, batch_size=2)
    np.testing.assert_allclose(loaded.probabilities(frames()), expected, atol=1e-6)
    sources = [s.source.rsplit(":", 1)[1] for s in loaded.score(frames())]
    assert sources == [s.source.rsplit(":", 1)[1] for s in random_clf.score(frames())]
    assert loaded.score(frames(1))[0].source.startswith(f"openclip:{MODEL}:")


def _open_clip_folder(folder, checkpoint, model=MODEL):
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": open_clip.get_model_config(model), "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    if checkpoint is not None:
        os.symlink(checkpoint, folder / "open_clip_model.safetensors")


def test_local_dir(checkpoint, expected, tmp_path):
    _open_clip_folder(tmp_path / "clip", checkpoint)
    loaded = ZeroShotClassifier(MODEL, weights=f"local-dir:{tmp_path / 'clip'}", batch_size=2)
    np.testing.assert_allclose(loaded.probabilities(frames()), expected, atol=1e-6)

    _open_clip_folder(tmp_path / "empty", None)
    # open_clip itself would build this with random weights and only log a warning.
    with pytest.raises(ClassifierError, match="has no checkpoint file"):
        ZeroShotClassifier(MODEL, weights=f"local-dir:{tmp_path / 'empty'}").score(frames(1))
    with pytest.raises(ClassifierError, match="is not a folder"):
        ZeroShotClassifier(MODEL, weights=f"local-dir:{tmp_path / 'none'}").score(frames(1))


def test_hf_hub_id_from_a_filled_cache(checkpoint, expected, tmp_path):
    # The layout huggingface_hub leaves: refs/main names a snapshot holding the files.
    repo = tmp_path / "hub" / "models--someone--tiny-clip"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    _open_clip_folder(repo / "snapshots" / commit, checkpoint)
    loaded = ZeroShotClassifier(
        MODEL, weights="hf-hub:someone/tiny-clip", cache_dir=tmp_path / "hub", batch_size=2
    )
    np.testing.assert_allclose(loaded.probabilities(frames()), expected, atol=1e-6)

    missing = ZeroShotClassifier(MODEL, weights="hf-hub:someone/absent", cache_dir=tmp_path / "hub")
    with pytest.raises(ClassifierError, match=r"someone/absent.*nothing is downloaded"):
        missing.score(frames(1))


def test_pretrained_tag_not_in_the_cache_is_named(tmp_path):
    tagged = ZeroShotClassifier("ViT-B-32", weights="laion2b_s34b_b79k", cache_dir=tmp_path)
    with pytest.raises(ClassifierError, match="laion/CLIP-ViT-B-32-laion2B-s34B-b79K"):
        tagged.score(frames(1))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("/nowhere/clip.safetensors", "/nowhere/clip.safetensors.*does not exist"),
        ("not-a-tag", "'not-a-tag' is not a checkpoint file.*tags: none"),
    ],
)
def test_bad_weights_setting(weights, message):
    with pytest.raises(ClassifierError, match=message):
        ZeroShotClassifier(MODEL, weights=weights).score(frames(1))


def test_unloadable_checkpoints_name_what_was_tried(checkpoint, tmp_path):
    wrong = ZeroShotClassifier("ViT-B-32", weights=checkpoint)  # a ViT-S-32 checkpoint
    tried = re.escape(f"OpenCLIP ViT-B-32 from {checkpoint}")
    # open_clip's own complaint: an assertion on the text width, or load_state_dict's mismatch.
    with pytest.raises(ClassifierError, match=tried + ".*(width changed|size mismatch)"):
        wrong.score(frames(1))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(ClassifierError, match=re.escape(f"from {garbage}")):
        ZeroShotClassifier(MODEL, weights=garbage).score(frames(1))
    with pytest.raises(ClassifierError, match="No-Such-Arch"):
        ZeroShotClassifier("No-Such-Arch", weights=checkpoint).score(frames(1))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32, 3), dtype=np.float32),  # a float frame in [0, 1]
        np.zeros((32, 32), dtype=np.uint8),
        np.zeros((32, 32, 4), dtype=np.uint8),
        np.zeros((0, 32, 3), dtype=np.uint8),
        [[[0, 0, 0]]],
    ],
    ids=["float", "grey", "rgba", "empty", "list"],
)
def test_only_uint8_rgb_frames(random_clf, image):
    good = frames(2)
    with pytest.raises(ValueError, match="frame 99"):
        random_clf.score([*good, Frame(index=99, time_s=1.0, image=image)])


def test_prompts_are_configurable(random_clf):
    custom = ZeroShotClassifier.random_weights(
        MODEL, prompts={"fire": ["a burning building", "flames"]}, safe_prompts=["a lake"]
    )
    custom._loaded = random_clf.load()  # same model, own prompts: own text embeddings
    scores = custom.score(frames(2))
    assert [(s.frame, s.category) for s in scores] == [(10, "fire"), (11, "fire")]
    assert custom.probabilities(frames(2)).shape == (2, 3)
    with pytest.raises(ValueError, match="both"):
        ZeroShotClassifier(prompts={"a": ["x"], "b": ["x"]})
    with pytest.raises(ValueError, match="safe prompts"):
        ZeroShotClassifier(safe_prompts=[])
    with pytest.raises(ValueError, match="'safe' cannot name"):
        ZeroShotClassifier(prompts={SAFE: ["x"]})


def test_default_prompts_are_balanced_in_both_languages():
    english, english_safe = default_prompts()
    both, both_safe = default_prompts(("en", "zh"))
    assert {len(p) for p in english.values()} == {4}
    assert {len(p) for p in both.values()} == {8}
    assert len(english_safe) > max(len(p) for p in english.values())
    assert len(both_safe) == 2 * len(english_safe) == 2 * len(DEFAULT_SAFE_PROMPTS["zh"])
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in DEFAULT_SAFE_PROMPTS["zh"])
    assert len(ZeroShotClassifier(languages=("en", "zh")).labels) == 2 * len(
        ZeroShotClassifier().labels
    )
    with pytest.raises(ValueError, match="fr"):
        default_prompts(("fr",))


def test_hub_text_towers_need_offline_mode(checkpoint, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    multilingual = ZeroShotClassifier("xlm-roberta-base-ViT-B-32", weights=checkpoint)
    with pytest.raises(ClassifierError, match=r"xlm-roberta-base.*HF_HUB_OFFLINE=1"):
        multilingual.score(frames(1))
