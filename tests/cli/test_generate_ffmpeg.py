"""``wanflow generate`` encodes with the ``ffmpeg`` setting's binary (``WANFLOW_FFMPEG``), as the
flow's GPU task does, and prints what the flow's clip record says of the same clip."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import WANFLOW
from tests.tasks.test_generate_ffmpeg import recording_ffmpeg


def test_wanflow_generate_encodes_with_the_configured_ffmpeg(model_dir, tmp_path):
    wrapper, log = recording_ffmpeg(tmp_path)
    out = tmp_path / "clip.mp4"
    env = {
        "WANFLOW_MODEL_DIR": str(model_dir),
        "WANFLOW_DEVICE": "cpu",
        "WANFLOW_FFMPEG": str(wrapper),
        "OMP_NUM_THREADS": "1",
    }
    args = ["--model", "tiny", "-p", "灯塔", "--frames", "5", "--steps", "1", "--seed", "3"]
    result = subprocess.run(
        [WANFLOW, "generate", *args, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    assert len(calls) == 1 and "libx264" in calls[0] and out.name in calls[0], calls
    payload = json.loads(result.stdout)
    assert payload["mp4"] == str(out) and out.is_file()
    assert set(payload) == {
        "mp4", "last_frame", "model", "device", "dtype", "plan", "speed", "width", "height",
        "frames", "fps", "steps", "seed", "experts", "load_s", "encode_s", "step_s", "decode_s",
        "total_s",
    }  # fmt: skip
    assert (payload["frames"], payload["steps"], payload["seed"]) == (5, 1, 3)
