"""Every ffmpeg run of post-production goes through :func:`run`: the compiled command is logged,
stderr is captured, and a failure raises :class:`FFmpegError` carrying ffmpeg's last words.

The binary is :func:`wanflow.video.ffmpeg_exe`'s: imageio-ffmpeg's pinned static build (libx264,
AAC, libass, xfade, loudnorm, sidechaincompress), or the one the caller chose with
:func:`wanflow.video.using_ffmpeg` (``compose`` does, from ``Options.ffmpeg``).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from contextvars import ContextVar
from pathlib import Path

import ffmpeg

from wanflow.video import VideoError, ffmpeg_exe

log = logging.getLogger(__name__)
STDERR_LINES = 20
QUIET = ("-hide_banner", "-nostats", "-nostdin")
TIMEOUT_S = 3600.0  # no step of one item's post-production takes near this long


class Group:
    """The ffmpeg runs of one context (a join in a background thread), to stop together when
    their caller gives up on them: a run started once the group is stopped fails at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopped = False

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for process in self._running:
                process.kill()

    def _add(self, process: subprocess.Popen) -> None:
        with self._lock:
            if self.stopped:
                process.kill()
            self._running.add(process)

    def _discard(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._running.discard(process)


# The group that runs started in this context belong to (see :func:`in_group`).
_GROUP: ContextVar[Group | None] = ContextVar("wanflow_ffmpeg_group", default=None)


def in_group(group: Group) -> None:
    """Make the runs started from now on in this context (a thread's) members of ``group``."""
    _GROUP.set(group)


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
    log.info("%s: %s", what, shlex.join(command))
    start = time.perf_counter()
    group = _GROUP.get()
    if group is not None and group.stopped:
        raise FFmpegError(f"{what}: stopped before it started", command)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if input is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise FFmpegError(f"{what}: cannot run ffmpeg ({command[0]}): {exc}", command) from exc
    with process:
        if group is not None:
            group._add(process)
        try:
            _, err = process.communicate(input, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:  # some damaged inputs make ffmpeg spin forever
            process.kill()
            _, err = process.communicate()
            raise FFmpegError(
                f"{what}: ffmpeg ran past {timeout_s:g} s and was killed",
                command,
                stderr=err.decode(errors="replace"),
            ) from exc
        except BaseException:  # interrupted (SIGTERM, Ctrl-C): no ffmpeg left running
            process.kill()
            raise
        finally:
            if group is not None:
                group._discard(process)
    stderr = err.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-STDERR_LINES:])
        raise FFmpegError(
            f"{what}: ffmpeg exited {process.returncode}:\n{tail}", command, stderr=stderr
        )
    log.debug("%s: %.2f s", what, time.perf_counter() - start)
    return stderr


def path_arg(path: Path) -> str:
    """A path ffmpeg reads as a file, never as a protocol or option (``-x.mp4``, ``a:b.mp4``)."""
    return str(Path(path).resolve())
