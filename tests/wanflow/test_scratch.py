"""Bounds checked before work starts, and scratch space that does not outlive its command:
removed at exit and on SIGTERM, swept by the next start after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import WANFLOW
from wanflow import scratch
from wanflow.video import write_mp4

STORY = " ".join(f"Sentence number {n} tells of the hunter and the stars." for n in range(12))


def _clip(folder: Path, frames: int = 17, size: tuple[int, int] = (96, 160)) -> Path:
    data = np.full((frames, *size, 3), 60, np.uint8)
    return write_mp4(data, folder / f"clip-{size[0]}x{size[1]}-{frames}.mp4", 16)


def _wanflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WANFLOW, *args], capture_output=True, text=True, timeout=300,
        env=os.environ | (env or {}),
    )  # fmt: skip


def test_compose_refuses_an_overlong_narration_before_any_work(tmp_path):
    clip = _clip(tmp_path)
    out = tmp_path / "v.mp4"
    story = tmp_path / "story.txt"
    story.write_text("The cat sat. " * 3000, encoding="utf-8")
    cases = [
        ("x" * 12_000, {}, "12,000 characters, more than 10,000 (WANFLOW_MAX_NARRATION_CHARS)"),
        (str(story), {}, "WANFLOW_MAX_NARRATION_CHARS"),
        ("猫坐着。" * 1000, {}, "s of speech, longer than 600 s (WANFLOW_MAX_DURATION_S)"),
        ("The cat sat. " * 40, {"WANFLOW_MAX_DURATION_S": "20"}, "(WANFLOW_MAX_DURATION_S)"),
    ]
    for narration, env, message in cases:
        done = _wanflow(
            "compose", "--clips", str(clip), "--narration", narration, "--out", str(out),
            env=env | {"TMPDIR": str(tmp_path)},
        )  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and not out.exists()
        assert not (tmp_path / f"wanflow-{os.getuid()}").exists()  # nothing was started


def test_review_refuses_a_clip_too_large_or_too_long_before_decoding(tmp_path):
    big = _clip(tmp_path, frames=3, size=(1088, 2000))
    done = _wanflow("review", str(big), "--json")
    assert done.returncode == 2 and "2000×1088 frames are larger than review takes" in done.stderr
    long = _clip(tmp_path, frames=64)  # 4 s
    done = _wanflow("review", str(long), "--json", env={"WANFLOW_MAX_DURATION_S": "2"})
    assert done.returncode == 2, done.stderr
    assert "4.0 s is longer than review takes (WANFLOW_MAX_DURATION_S=2 s)" in done.stderr
    assert "Traceback" not in done.stderr


def test_review_checks_the_decoded_length_as_well_as_the_header(tmp_path):
    from moderation.frames import ClipTooLarge, sample_frames

    long = _clip(tmp_path, frames=64)
    with pytest.raises(ClipTooLarge, match="longer than review takes"):
        sample_frames(long, max_seconds=2.0)
    assert len(sample_frames(long, max_seconds=10.0)) >= 2


def _start_compose(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A compose running with its scratch under ``tmp_path``, once it has written there."""
    clips = [_clip(tmp_path, frames=33), _clip(tmp_path, frames=32)]
    process = subprocess.Popen(
        [WANFLOW, "compose", "--clips", *map(str, clips), "--narration", STORY,
         "--out", str(tmp_path / "v.mp4")],
        env=os.environ | {"TMPDIR": str(tmp_path)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    mine = tmp_path / f"wanflow-{os.getuid()}" / scratch.folder_of(process.pid).name
    deadline = time.monotonic() + 120
    while not any(p.is_file() for p in mine.rglob("*")):  # wait for its first scratch file
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "compose wrote no scratch file"
        time.sleep(0.01)
    return process, mine


def test_sigterm_removes_the_scratch_before_the_command_ends(tmp_path):
    process, mine = _start_compose(tmp_path)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert not mine.exists()
    assert not (tmp_path / "v.mp4").exists()


def test_after_a_sigkill_the_next_start_sweeps_the_dead_process_scratch(tmp_path, monkeypatch):
    process, mine = _start_compose(tmp_path)
    process.kill()
    process.wait(timeout=60)
    assert any(p.is_file() for p in mine.rglob("*"))  # left behind: SIGKILL cannot be caught
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    alive = scratch.folder_of(1)  # pid 1 is always alive: never swept
    alive.mkdir()
    elsewhere = scratch.root() / f"another-host.{process.pid}"  # not this host's to judge
    elsewhere.mkdir()
    with scratch.scratch("next-") as folder:
        assert folder.is_dir() and folder.parent == scratch.folder_of(os.getpid())
        assert not mine.exists() and alive.exists() and elsewhere.exists()
    assert not folder.exists()


def test_a_scratch_root_that_is_not_ours_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = tmp_path / "elsewhere"
    target.mkdir()
    scratch.root().symlink_to(target)
    with pytest.raises(scratch.ScratchError, match="not a folder of this user's"):
        scratch.process_dir()
