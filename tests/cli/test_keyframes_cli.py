"""``wanflow generate --last-image``: one clip between two given frames (a model taking both)."""

from __future__ import annotations

import json
import os
import subprocess

from PIL import Image

from tests.conftest import WANFLOW


def generate(model_dir, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {"WANFLOW_MODEL_DIR": str(model_dir), "WANFLOW_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [WANFLOW, "generate", "-p", "灯塔", "--frames", "5", "--steps", "1", "--seed", "3",
         "--out", str(tmp_path / "clip.mp4"), "--json", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip


def test_a_clip_between_a_first_and_a_last_frame(model_dir, tmp_path):
    first, last, notes = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "notes.png"
    Image.new("RGB", (160, 90), (200, 40, 40)).save(first)
    Image.new("RGB", (160, 90), (40, 40, 200)).save(last)
    notes.write_text("not a picture")

    made = generate(
        model_dir, tmp_path, "--model", "tiny-flf2v-14b", "--image", str(first),
        "--last-image", str(last),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["model"] == "tiny-flf2v-14b"

    alone = generate(model_dir, tmp_path, "--model", "tiny-flf2v-14b", "--last-image", str(last))
    assert alone.returncode == 2 and "--last-image needs --image" in alone.stderr
    unread = generate(
        model_dir, tmp_path, "--model", "tiny-flf2v-14b", "--image", str(first),
        "--last-image", str(notes),
    )  # fmt: skip
    assert unread.returncode == 2 and f"--last-image {notes}: not an image" in unread.stderr
    first_only = generate(
        model_dir, tmp_path, "--model", "tiny-i2v-a14b", "--image", str(first),
        "--last-image", str(last),
    )  # fmt: skip
    assert first_only.returncode == 2 and "honours only a first frame" in first_only.stderr
