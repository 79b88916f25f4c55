"""The local S3 server as an attacker on the same machine sees it, and as a ``kill -9`` leaves it.

Only the S3 port may give anything away, and only to the credentials; every other port the
server process listens on (found from the process, not assumed) must refuse ``weed shell``,
plain HTTP, TLS without the per-start client certificate and plaintext gRPC. No file with a
secret may outlive the server, and no server may outlive the Wanflow process that started it.
"""

from __future__ import annotations

import http.client
import io
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import psutil
import pytest
from minio import Minio

from tests.conftest import EXAMPLES, WANFLOW
from wanflow.localsecurity import _certificates
from wanflow.localserver import LocalS3Server, LocalServerError, running_endpoint, weed_binary

PAYLOAD = b"private frames " + secrets.token_bytes(16).hex().encode()


def _listening(pid: int) -> tuple[set[int], set[str]]:
    """TCP ports and unix socket paths the process and its descendants listen on."""
    ports, sockets = set(), set()
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return ports, sockets
    for process in tree:
        try:
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    ports.add(conn.laddr.port)
            for conn in process.net_connections(kind="unix"):
                if conn.laddr:
                    sockets.add(conn.laddr)
        except psutil.NoSuchProcess:
            pass
    return ports, sockets


def _port_listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _poll(condition, deadline_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {deadline_s:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    secret = "S3cret-" + secrets.token_hex(12)
    srv = LocalS3Server(tmp_path_factory.mktemp("attacked"), "owner", secret, bucket="private")
    srv.start()
    client = Minio(srv.endpoint, "owner", secret, secure=False, region="us-east-1")
    client.put_object("private", "published/x/video.mp4", io.BytesIO(PAYLOAD), len(PAYLOAD))
    yield srv
    srv.stop()


def test_s3_refuses_anonymous_requests_and_serves_the_credentials(server):
    url = f"http://{server.endpoint}/private/published/x/video.mp4"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 403
    owner = Minio(server.endpoint, "owner", server._secret_key, secure=False, region="us-east-1")
    assert owner.get_object("private", "published/x/video.mp4").read() == PAYLOAD


@pytest.mark.slow
def test_a_server_takes_writes_in_many_more_buckets_than_its_disk_has_gigabytes(server):
    """Each bucket costs weed a volume; sized by the disk, they ran out after about 70 buckets
    on an 80 GB disk and every later write failed with InternalError (a test session, a
    tenant per team and a demo per day all make many buckets)."""
    owner = Minio(server.endpoint, "owner", server._secret_key, secure=False, region="us-east-1")
    free_gib = int(psutil.disk_usage(str(server.data_dir)).free / 2**30)
    for index in range(min(free_gib, 200) + 30):
        bucket = f"many-{index}"
        owner.make_bucket(bucket)
        owner.put_object(bucket, "x.bin", io.BytesIO(PAYLOAD), len(PAYLOAD))
    assert owner.get_object(bucket, "x.bin").read() == PAYLOAD


def test_one_server_per_data_directory_and_others_find_it(server):
    assert running_endpoint(server.data_dir) == server.endpoint
    second = LocalS3Server(server.data_dir, "owner", server._secret_key)
    with pytest.raises(LocalServerError, match=f"S3 on {server.endpoint}"):
        second.start()
    assert second.process is None and running_endpoint(server.data_dir) == server.endpoint
    owner = Minio(server.endpoint, "owner", server._secret_key, secure=False, region="us-east-1")
    assert owner.get_object("private", "published/x/video.mp4").read() == PAYLOAD


def test_a_stopped_or_killed_owner_leaves_no_endpoint_to_believe(tmp_path):
    with LocalS3Server(tmp_path / "s3", "owner", "S3cret-" + secrets.token_hex(8)) as started:
        endpoint = started.endpoint
        assert running_endpoint(started.data_dir) == endpoint
    assert running_endpoint(started.data_dir) is None
    # An owner killed with SIGKILL leaves its endpoint file; the lock dies with it.
    (started.data_dir / "server.endpoint").write_text(endpoint)
    assert running_endpoint(started.data_dir) is None


def _http_probe(port: int) -> list[str]:
    """What plain HTTP gets from a port: anything that is a success is a leak."""
    leaks = []
    for method, path, body in (
        ("GET", "/", None),
        ("GET", "/ui/index.html", None),
        ("GET", "/status", None),
        ("GET", "/dir/status", None),
        ("GET", "/dir/assign", None),
        ("GET", "/buckets/private/published/x/video.mp4", None),
        ("PUT", "/buckets/private/evil.txt", b"overwritten"),
        ("POST", "/1,01637037d6", b"overwritten"),
    ):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                leaks.append(f"{method} {path}: {response.status} {response.read(200)!r}")
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read(2000)
            except (OSError, http.client.HTTPException):
                text = b""  # the server hung up before its refusal was read
            if PAYLOAD in text or b"SeaweedFS" in text:
                leaks.append(f"{method} {path}: {exc.code} {text[:200]!r}")
        except (OSError, http.client.HTTPException):
            pass  # refused, reset or closed: nothing served
    return leaks


def _tls_answer(port: int, client_cert: tuple[Path, Path] | None = None) -> str | None:
    """The answer to an HTTPS request presenting ``client_cert`` (or none), if any."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(*client_cert)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), 10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = tls.recv(200)
            return answer.decode(errors="replace") if answer else None
    except (OSError, ssl.SSLError):
        return None


def _plaintext_grpc(port: int) -> str | None:
    """A plaintext gRPC call (HTTP/2 without TLS); a gRPC answer means gRPC is open."""
    try:
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            response = client.post(
                f"http://127.0.0.1:{port}/master_pb.Seaweed/GetMasterConfiguration",
                content=b"\0\0\0\0\0",
                headers={"content-type": "application/grpc", "te": "trailers"},
            )
    except httpx.HTTPError:
        return None
    return f"{response.status_code} {dict(response.headers)}"


def _foreign_certificate(folder: Path) -> tuple[Path, Path]:
    """A client certificate an attacker can make: right shape, wrong authority."""
    _, cert, key = _certificates()
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    return folder / "cert.pem", folder / "key.pem"


def test_every_other_port_refuses_plain_http_tls_without_a_certificate_and_grpc(server, tmp_path):
    # Master, volume and filer (HTTP and gRPC), S3 and admin gRPC: some open after S3 answers.
    _poll(lambda: len(_listening(server.process.pid)[0]) >= 9, what="every component listening")
    others = _listening(server.process.pid)[0] - {server.port}
    foreign = _foreign_certificate(tmp_path)
    for port in sorted(others):
        assert _http_probe(port) == [], f"port {port} answered plain HTTP"
        assert _tls_answer(port) is None, f"port {port} served TLS without a certificate"
        assert _tls_answer(port, foreign) is None, f"port {port} took a foreign certificate"
        assert _plaintext_grpc(port) is None, f"port {port} answered plaintext gRPC"
    # The probe can see an answer: with weed's own certificate (which its owner may read from
    # its descriptors) the HTTPS ports of master, volume and filer do answer.
    environ = psutil.Process(server.process.pid).environ()
    genuine = tuple(
        Path(f"/proc/{server.process.pid}/fd/{environ[name].rsplit('/', 1)[1]}")
        for name in ("WEED_HTTPS_CLIENT_CERT", "WEED_HTTPS_CLIENT_KEY")
    )
    assert sum(_tls_answer(port, genuine) is not None for port in others) >= 3


def test_unix_sockets_are_private_to_the_owner(server):
    _, sockets = _listening(server.process.pid)
    assert sockets  # weed mini talks to itself over them
    for path in sockets:
        mode = os.stat(path).st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is open to other users ({mode:o})"


def test_weed_shell_gets_neither_the_secret_nor_the_bucket(server, tmp_path):
    """What ``weed shell`` against the server's master and filer yields without the
    certificate: it waits for a master it cannot reach, and prints nothing of ours."""
    values = dict(
        arg.lstrip("-").split("=", 1) for arg in server.process.args if arg.startswith("-")
        and "=" in arg
    )  # fmt: skip
    master = f"127.0.0.1:{values['master.port']}.{values['master.port.grpc']}"
    filer = f"127.0.0.1:{values['filer.port']}.{values['filer.port.grpc']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEED_")}
    env["HOME"] = str(tmp_path)  # no security.toml of anyone's
    commands = "s3.configure\nfs.ls /buckets\nfs.cat /buckets/private/published/x/video.mp4\n"
    try:
        result = subprocess.run(
            [str(weed_binary()), "shell", f"-master={master}", f"-filer={filer}"],
            input=commands, capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env,
        )  # fmt: skip
        text = result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        text = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (exc.stdout, exc.stderr)
        )
    assert server._secret_key not in text
    assert "video.mp4" not in text and "private" not in text
    assert PAYLOAD.decode() not in text


def test_secrets_reach_weed_only_as_nameless_files(server):
    """The S3 identity file and the certificates weed reads exist under no name."""
    weed = psutil.Process(server.process.pid)
    config = next(a.split("=", 1)[1] for a in weed.cmdline() if a.startswith("-s3.config="))
    assert config.startswith("/dev/fd/")
    for arg in weed.environ().values():
        if arg.startswith("/dev/fd/"):
            assert os.readlink(f"/proc/{weed.pid}/fd/{arg.rsplit('/', 1)[1]}").endswith("(deleted)")
    assert os.readlink(f"/proc/{weed.pid}/fd/{config.rsplit('/', 1)[1]}").endswith("(deleted)")
    assert server._secret_key not in " ".join(weed.cmdline())


STARTER = """
import sys
from wanflow.localserver import LocalS3Server
server = LocalS3Server(sys.argv[1], "owner", sys.argv[2], bucket="private")
server.start()
print("READY", server.process.pid, server.port, flush=True)
sys.stdin.read()
"""


def _wanflow_s3_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("wanflow-s3-*"))


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and needle in path.read_bytes():
                found.append(path)
        except OSError:
            pass
    return found


def test_a_killed_starter_leaves_no_secret_file_and_no_server(tmp_path):
    secret = "S3cret-" + secrets.token_hex(12)
    before = _wanflow_s3_dirs()
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path / "data"), secret],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = starter.stdout.readline()
        assert line.startswith("READY"), line
        weed_pid, s3_port = (int(x) for x in line.split()[1:])
        ports, _ = _listening(weed_pid)
        assert s3_port in ports
        starter.send_signal(signal.SIGKILL)
        starter.wait(30)
        _poll(lambda: not psutil.pid_exists(weed_pid) or _zombie(weed_pid), what="weed gone")
        _poll(lambda: not any(_port_listens(p) for p in ports), what="ports closed")
    finally:
        starter.kill()
        starter.wait()
    leftovers = [p for d in _wanflow_s3_dirs() - before for p in d.rglob("*")]
    assert leftovers == [] and _wanflow_s3_dirs() - before == set()
    assert _files_containing(tmp_path, secret.encode()) == []


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _tree_after_line(command, env, cwd, marker: str, want_children: int, deadline_s=300.0):
    """Start ``command``; once ``marker`` is on its stderr and ``want_children`` children
    listen, return the process, its descendants and every port they listen on."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env, cwd=cwd,
    )  # fmt: skip
    seen = []
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            break
    else:
        process.wait()
        raise AssertionError("".join(seen))
    root = psutil.Process(process.pid)

    def listening_children():
        kids = root.children(recursive=True)
        return [k for k in kids if _listening(k.pid)[0]] if len(kids) >= want_children else []

    _poll(lambda: len(listening_children()) >= want_children, deadline_s, "children listening")
    children = root.children(recursive=True)
    ports = set().union(*(_listening(k.pid)[0] for k in children))
    return process, children, ports


def _assert_all_gone(process, children, ports) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    _poll(lambda: all(_zombie(k.pid) for k in children), 60, "every child gone")
    _poll(lambda: not any(_port_listens(p) for p in ports), 60, "every port closed")


def _clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANFLOW_", "PREFECT_"))}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "WANFLOW_LOCAL_S3_DATA": str(tmp_path / "s3"),
        "WANFLOW_S3_SECRET_KEY": "S3cret-" + secrets.token_hex(12),
        "OMP_NUM_THREADS": "1",
    }
    return env


def test_kill_9_of_storage_serve_stops_weed(tmp_path):
    env = _clean_env(tmp_path)
    before = _wanflow_s3_dirs()
    process = subprocess.Popen(
        [WANFLOW, "storage", "serve"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("S3 server on http://"), line
        children = psutil.Process(process.pid).children(recursive=True)
        ports = set().union(*(_listening(k.pid)[0] for k in children))
        assert len(ports) >= 7
        _assert_all_gone(process, children, ports)
    finally:
        process.kill()
        process.wait()
    assert _wanflow_s3_dirs() - before == set()
    assert _files_containing(tmp_path, env["WANFLOW_S3_SECRET_KEY"].encode()) == []


@pytest.mark.slow
def test_kill_9_of_wanflow_run_stops_its_s3_and_prefect_servers(tmp_path):
    """``wanflow run`` on embedded defaults starts weed and a temporary Prefect API; a
    ``kill -9`` once both are up must take both down."""
    env = _clean_env(tmp_path)
    before = _wanflow_s3_dirs()
    manifest = EXAMPLES / "constellations.csv"
    process, children, ports = _tree_after_line(
        [WANFLOW, "run", str(manifest), "--model", "tiny"],
        env, tmp_path, "running produce_manifest", want_children=2,
    )  # fmt: skip
    try:
        assert len(children) >= 2 and len(ports) >= 8
        # The temporary Prefect API, like every port Wanflow opens, wants credentials.
        (prefect_api,) = [
            k for k in children if "prefect.server.api.server:create_app" in k.cmdline()
        ]
        (api_port,) = _listening(prefect_api.pid)[0]
        base = f"http://127.0.0.1:{api_port}/api"
        assert httpx.get(f"{base}/health").status_code == 200  # the probe reaches it
        for auth in (None, ("wanflow", "guess")):
            refused = httpx.post(f"{base}/flow_runs/filter", json={}, auth=auth)
            assert refused.status_code == 401, (auth, refused.text[:200])
        _assert_all_gone(process, children, ports)
    finally:
        process.kill()
        process.wait()
    assert _wanflow_s3_dirs() - before == set()
    assert _files_containing(tmp_path, env["WANFLOW_S3_SECRET_KEY"].encode()) == []
