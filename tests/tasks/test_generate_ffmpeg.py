"""A shot the GPU task renders is encoded by the ``ffmpeg`` setting's binary (``WANFLOW_FFMPEG``),
as post-production and review are: an operator's choice of ffmpeg holds for every encode."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from tests.generation.test_generate import request
from wanflow.video import bundled_ffmpeg


def recording_ffmpeg(folder: Path) -> tuple[Path, Path]:
    """An ffmpeg that notes each run's arguments in a log, then runs imageio-ffmpeg's binary:
    (the wrapper, its log)."""
    log = folder / "ffmpeg-calls.log"
    wrapper = folder / "recording-ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {shlex.quote(str(log))}\n'
        f'exec {shlex.quote(bundled_ffmpeg())} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


class _StandIn:
    """Renders nothing: nine grey frames, so that the test is about the encode, not the model."""

    def __init__(self, settings) -> None:
        pass

    def render(self, spec, request, progress=None):
        from generation.render import Rendered

        frames = np.full((9, 64, 96, 3), 0.4, np.float32)
        return Rendered(
            frames=frames, fps=16, model=spec.name, device="cpu", dtype="float32",
            plan="cpu", speed="stand-in", experts=[], load_s=0.0, encode_s=0.0, step_s=0.0,
            decode_s=0.0, total_s=0.0, width=96, height=64,
        )  # fmt: skip


def test_a_rendered_shot_is_encoded_by_the_configured_ffmpeg(
    prefect_api, wanflow_env, storage, tmp_path, monkeypatch
):
    from generation.clips import ClipJob
    from generation.render import Renderer
    from tasks.generate import generate_clip, use_renderer
    from wanflow.settings import Settings
    from wanflow.video import probe

    wrapper, log = recording_ffmpeg(tmp_path)
    monkeypatch.setenv("WANFLOW_FFMPEG", str(wrapper))
    job = ClipJob(item_id="a", shot=1, model="tiny", request=request(seed=61, steps=2))
    use_renderer(_StandIn)
    try:
        record = generate_clip(job, Settings())
    finally:
        use_renderer(Renderer)
    calls = log.read_text().splitlines() if log.exists() else []
    assert len(calls) == 1 and "libx264" in calls[0], calls
    clip = probe(storage.download(record.key, tmp_path / "stored.mp4"))
    assert (clip.frames, clip.width, clip.height, clip.codec) == (9, 96, 64, "h264")
