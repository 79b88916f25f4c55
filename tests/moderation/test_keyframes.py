"""A keyframe item's input images: read within bounds, then judged by the visual classifiers
(OpenCLIP on random weights, built offline: its scores mean nothing, so the thresholds below are
set from the scores it gives, and what is checked is how a verdict follows from them)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from moderation.keyframes import REVIEW_SIDE, KeyframeError, read_keyframe, screen_keyframes
from moderation.policy import Policy, Threshold
from moderation.signals import Frame
from moderation.zeroshot import ZeroShotClassifier

torch.set_num_threads(1)
LIMITS = {"max_bytes": 1 << 20, "max_pixels": 4096 * 4096}


def picture(seed: int, shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def png_claiming(path, width: int, height: int) -> None:
    """A PNG whose header (with a valid checksum) claims ``width`` x ``height``: only its
    header is ever read, since the size alone refuses it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # far too little data: decoding would fail
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))


def test_a_keyframe_is_read_as_rgb_and_scaled_for_review(tmp_path):
    path = tmp_path / "k.png"
    Image.fromarray(picture(1, (40, 3000))).convert("L").save(path)  # grey, very wide
    read = read_keyframe(path, name="keyframe 1 (k.png)", **LIMITS)
    assert read.dtype == np.uint8 and read.shape[2] == 3 and max(read.shape[:2]) == REVIEW_SIDE


def test_oversized_unreadable_and_empty_keyframes_are_refused_with_their_name(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x00" * ((1 << 20) + 1))
    with pytest.raises(KeyframeError, match=r"keyframe 2 \(k/big.png\) is 1.0 MiB; the limit"):
        read_keyframe(big, name="keyframe 2 (k/big.png)", **LIMITS)
    huge = tmp_path / "huge.png"
    png_claiming(huge, 5000, 5000)
    with pytest.raises(KeyframeError, match="keyframe 1 is 5000x5000, over 16777216 pixels"):
        read_keyframe(huge, name="keyframe 1", **LIMITS)
    png_claiming(huge, 100_000, 100_000)  # so large that PIL itself refuses to open it
    with pytest.raises(KeyframeError, match="keyframe 1 claims more pixels than can be decoded"):
        read_keyframe(huge, name="keyframe 1", **LIMITS)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(KeyframeError, match="keyframe 3 is not a picture that can be read"):
        read_keyframe(text, name="keyframe 3", **LIMITS)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(KeyframeError, match="is empty"):
        read_keyframe(empty, name="keyframe 1", **LIMITS)


@pytest.fixture(scope="module")
def clip():
    classifier = ZeroShotClassifier.random_weights(prompts={"violence": ["a fight"]})
    classifier.load()
    return classifier


def test_the_unsafe_keyframe_blocks_and_is_named(clip):
    pictures = [picture(1), picture(2), picture(3)]
    names = ["k/a.png", "k/b.png", "k/c.png"]
    scores = [s.score for s in clip.score([Frame(i, 0.0, p) for i, p in enumerate(pictures)])]
    hot = int(np.argmax(scores))
    runner_up = max(s for i, s in enumerate(scores) if i != hot)
    assert scores[hot] > runner_up  # the case needs one keyframe above the others
    cut = (scores[hot] + runner_up) / 2
    policy = Policy(thresholds={"violence": Threshold(review=cut, block=cut)})
    verdict = screen_keyframes(pictures, names, [clip], policy)
    assert verdict.decision == "block"
    (reason,) = verdict.reasons
    assert reason.startswith(f"keyframe {hot + 1} ({names[hot]}): violence ")
    assert reason.endswith("→ block")
    # Above every score: nothing is flagged.
    lenient = Policy(thresholds={"violence": Threshold(review=1.0, block=1.0)})
    assert screen_keyframes(pictures, names, [clip], lenient).decision == "pass"


def test_a_classifier_that_cannot_judge_sends_the_keyframes_to_a_person(tmp_path):
    broken = ZeroShotClassifier("ViT-S-32", tmp_path / "missing.safetensors")
    verdict = screen_keyframes([picture(1)], ["k/a.png"], [broken], Policy())
    assert verdict.decision == "review"
    assert verdict.reasons[0].startswith("classifier failed, a person must look: openclip")
