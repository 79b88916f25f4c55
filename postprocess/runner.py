"""Every ffmpeg run of post-production goes through :func:`run`: the compiled command is logged,
stderr is captured, and a failure raises :class:`FFmpegError` carrying ffmpeg's last words.

The binary is :func:`wanflow.video.ffmpeg_exe`'s: imageio-ffmpeg's pinned static build (libx264,
AAC, libass, xfade, loudnorm, sidechaincompress), or the one the caller chose with
:func:`wanflow.video.using_ffmpeg` (``compose`` does, from ``Options.ffmpeg``).
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path

import ffmpeg

from wanflow.video import VideoError, ffmpeg_exe

log = logging.getLogger(__name__)
STDERR_LINES = 20
QUIET = ("-hide_banner", "-nostats", "-nostdin")
TIMEOUT_S = 3600.0  # no step of one item's post-production takes near this long


class FFmpegError(VideoError):
    """ffmpeg exited non-zero (or could not start); ``stderr`` holds the whole of what it said."""

    def __init__(self, message: str, command: list[str], stderr: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.stderr = stderr


def run(
    stream,
    what: str,
    *,
    input: bytes | None = None,
    loglevel: str = "error",
    timeout_s: float | None = TIMEOUT_S,
) -> str:
    """Run a compiled ffmpeg-python graph; return stderr (filters such as loudnorm and ebur128
    report there). ``what`` names the step in logs and errors."""
    stream = stream.global_args(*QUIET, "-loglevel", loglevel)
    command = [ffmpeg_exe(), *ffmpeg.get_args(stream)]
    return run_args(command, what, input=input, timeout_s=timeout_s)


def run_args(
    command: list[str],
    what: str,
    *,
    input: bytes | None = None,
    timeout_s: float | None = TIMEOUT_S,
) -> str:
    """Run an ffmpeg command given as arguments (for the rare graph ffmpeg-python cannot say)."""
    import subprocess

    log.info("%s: %s", what, shlex.join(command))
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, input=input, capture_output=True, check=False, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:  # some damaged inputs make ffmpeg spin forever
        stderr = (exc.stderr or b"").decode(errors="replace")
        raise FFmpegError(
            f"{what}: ffmpeg ran past {timeout_s:g} s and was killed", command, stderr=stderr
        ) from exc
    except OSError as exc:
        raise FFmpegError(f"{what}: cannot run ffmpeg ({command[0]}): {exc}", command) from exc
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-STDERR_LINES:])
        raise FFmpegError(
            f"{what}: ffmpeg exited {done.returncode}:\n{tail}", command, stderr=stderr
        )
    log.debug("%s: %.2f s", what, time.perf_counter() - start)
    return stderr


def path_arg(path: Path) -> str:
    """A path ffmpeg reads as a file, never as a protocol or option (``-x.mp4``, ``a:b.mp4``)."""
    return str(Path(path).resolve())
