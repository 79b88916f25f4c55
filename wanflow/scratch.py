"""Scratch space for commands that write large temporary files (``compose``, ``review``).

A composed story's intermediate audio and video can run to gigabytes. A command that ends
normally, or by SIGTERM (a container stop, ``kill``), or by Ctrl-C, removes its scratch before
it exits. SIGKILL cannot be caught, so each process keeps its files in a folder named after
its host and pid, under one folder per user in the system's temporary directory; every later
start on the same host removes the folders of processes that are no longer alive (a pid means
nothing on another host, or in another container sharing the folder).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()
_registered: set[int] = set()


class ScratchError(RuntimeError):
    """The scratch folder is not safe to use (someone else's, or a link)."""


def root() -> Path:
    """``<temp>/wanflow-<uid>``: private to this user (another user could plant links in a
    shared folder)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"wanflow-{uid}"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def _name(pid: int) -> str:
    return f"{_host()}.{pid}"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if not stat.S_ISDIR(info.st_mode) or not owner_ok:
        raise ScratchError(f"{path} is not a folder of this user's; remove it or set TMPDIR")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reuses the number: not ours to judge
        return True
    return True


def sweep(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders of processes that have died (SIGKILL, a crash, power)."""
    base = base or root()
    removed = []
    if not base.is_dir():
        return removed
    prefix = f"{_host()}."
    for entry in base.iterdir():
        pid = entry.name.removeprefix(prefix)
        if not entry.name.startswith(prefix) or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if entry.is_dir() and not entry.is_symlink() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def process_dir() -> Path:
    """This process's scratch folder (created on first use, removed at exit)."""
    base = _private_dir(root())
    mine = _private_dir(base / _name(os.getpid()))
    with _lock:
        if os.getpid() not in _registered:
            _registered.add(os.getpid())
            atexit.register(shutil.rmtree, mine, True)
    return mine


def _terminate(signum: int, frame: object) -> None:
    # SystemExit unwinds the stack: every ``finally`` and context manager runs, child
    # processes started with subprocess.run are killed, and atexit removes the folder.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def scratch(prefix: str, *, capture_tempfile: bool = False) -> Iterator[Path]:
    """A fresh folder for one job, removed afterwards; the dead's leftovers are swept first.

    ``capture_tempfile`` (for a command line, which does one job) also points Python's
    ``tempfile`` at this process's folder for the duration, so that temporary files made deeper
    down (mixing, fonts) are swept with it; SIGTERM then ends the command as an exception would.
    """
    sweep()
    mine = process_dir()
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=mine))
    previous_tempdir = tempfile.tempdir
    handle = capture_tempfile and threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _terminate) if handle else None
    if capture_tempfile:
        tempfile.tempdir = str(mine)
    try:
        yield folder
    finally:
        if capture_tempfile:
            tempfile.tempdir = previous_tempdir
        if handle:
            signal.signal(signal.SIGTERM, previous_handler or signal.SIG_DFL)
        shutil.rmtree(folder, ignore_errors=True)


def folder_of(pid: int) -> Path:
    """Where process ``pid`` of this host keeps its scratch."""
    return root() / _name(pid)


__all__ = ["ScratchError", "folder_of", "process_dir", "root", "scratch", "sweep"]
