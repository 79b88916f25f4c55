"""The run-end callback against real local HTTP servers: where it may go, what it sends, and
what it keeps of the answer."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wanflow.callback import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackRefused,
    check_url,
    post,
    verify,
)

SECRET = "a-long-enough-signing-key"
LEAK = "RECEIVER-BODY-MUST-NOT-BE-KEPT"


class Receiver:
    """Answers each POST with the next (status, headers) of ``answers``, then 200, always with
    a body the callback must not keep."""

    def __init__(self, answers=()) -> None:
        self.answers, self.requests = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status, extra = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                payload = (LEAK * 10).encode()
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook?run=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(answers=()):
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _no_sleep(_s):
    return None


def test_an_allow_listed_loopback_receiver_gets_one_signed_post(receiver):
    hook = receiver()
    result = post(hook.url, {"run": "r1", "title": "星空"}, SECRET, allow_hosts=["127.0.0.1"])
    assert (result.delivered, result.status_code, result.attempts) == (True, 200, 1)
    ((headers, body),) = hook.requests
    assert json.loads(body) == {"run": "r1", "title": "星空"}
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert headers["Host"] == f"127.0.0.1:{hook.port}"


def test_the_connection_goes_to_the_address_that_was_checked(receiver):
    # The name resolves (once, through the check) to the receiver; it exists in no DNS, so the
    # POSTs reach the receiver only because every attempt connects to the checked address.
    hook = receiver([(503, {})])
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    url = f"http://hooks.wanflow-test.invalid:{hook.port}/hook"
    result = post(
        url, {}, SECRET, allow_hosts=["hooks.wanflow-test.invalid"], resolve=resolve,
        sleep=_no_sleep,
    )  # fmt: skip
    assert (result.delivered, result.attempts) == (True, 2)
    assert lookups == ["hooks.wanflow-test.invalid"]
    assert [h["Host"] for h, _ in hook.requests] == [f"hooks.wanflow-test.invalid:{hook.port}"] * 2


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.5"],
        ["192.168.1.1"],
        ["172.16.0.1"],
        ["100.64.0.1"],
        ["169.254.169.254"],
        ["224.0.0.1"],
        ["0.0.0.0"],
        ["240.0.0.1"],
        ["::1"],
        ["fd00::1"],
        ["fe80::1"],
        ["ff02::1"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "127.0.0.1"],  # every resolved address counts, not just the first
    ],
)
def test_inner_destinations_are_refused_after_resolution(addresses):
    with pytest.raises(CallbackRefused, match="WANFLOW_CALLBACK_ALLOW_HOSTS"):
        check_url("https://hooks.example.com/x", resolve=lambda h, p: addresses)
    public = check_url("https://hooks.example.com/x", resolve=lambda h, p: ["93.184.216.34"])
    assert (public.address, public.host, public.port) == ("93.184.216.34", "hooks.example.com", 443)


def test_a_refused_destination_is_never_contacted(receiver):
    hook = receiver()
    https_loopback = f"https://127.0.0.1:{hook.port}/hook"
    for url in (hook.url, https_loopback, hook.url.replace("127.0.0.1", "localhost")):
        result = post(url, {}, SECRET, sleep=_no_sleep)
        assert not result.delivered and result.attempts == 0
        assert result.error.startswith("not sent:")
    assert hook.requests == []


def test_plain_http_is_refused_unless_the_host_is_allow_listed():
    public = lambda h, p: ["93.184.216.34"]  # noqa: E731
    with pytest.raises(CallbackRefused, match="https"):
        check_url("http://hooks.example.com/x", resolve=public)
    assert check_url("http://hooks.example.com/x", ["hooks.example.com"], resolve=public).port == 80
    for url in ("ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://x/", "//x/"):
        with pytest.raises(CallbackRefused):
            check_url(url, ["hooks.example.com", "x"], resolve=public)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@hooks.example.com/x",
        "https://hunter2@hooks.example.com/x",
        "https://:hunter2@hooks.example.com/x",
        "http://user:hunter2@127.0.0.1:9/x",
    ],
)
def test_credentials_in_the_url_are_refused_without_echoing_them(url):
    with pytest.raises(CallbackRefused, match="credentials") as caught:
        check_url(url, ["127.0.0.1"], resolve=lambda h, p: ["93.184.216.34"])
    assert "hunter2" not in str(caught.value)
    result = post(url, {}, SECRET, allow_hosts=["127.0.0.1"])
    assert not result.delivered and "hunter2" not in result.model_dump_json()


def test_a_redirect_is_not_followed(receiver):
    elsewhere = receiver()
    hook = receiver([(302, {"Location": elsewhere.url}), (307, {"Location": elsewhere.url})])
    for _ in range(2):
        result = post(hook.url, {}, SECRET, allow_hosts=["127.0.0.1"], sleep=_no_sleep)
        assert not result.delivered and result.attempts == 1
        assert result.error.startswith(f"HTTP {result.status_code}") and "redirect" in result.error
    assert elsewhere.requests == []


def test_only_the_status_code_of_the_answer_is_kept(receiver, caplog):
    hook = receiver([(500, {}), (500, {}), (400, {})])
    result = post(hook.url, {}, SECRET, allow_hosts=["127.0.0.1"], sleep=_no_sleep)
    assert (result.delivered, result.status_code, result.attempts) == (False, 400, 3)
    assert result.error == "HTTP 400"
    assert LEAK not in result.model_dump_json() and LEAK not in caplog.text


def test_the_report_keeps_the_url_without_its_query():
    result = post(
        "https://hooks.example.com/x?token=abc123", {}, SECRET,
        resolve=lambda h, p: ["10.1.2.3"],
    )  # fmt: skip
    assert result.url == "https://hooks.example.com/x" and "abc123" not in result.model_dump_json()


@pytest.mark.parametrize("secret", ["", "   "])
def test_a_blank_key_signs_nothing(receiver, secret):
    hook = receiver()
    result = post(hook.url, {}, secret, allow_hosts=["127.0.0.1"])
    assert not result.delivered and result.error == "not sent: the signing key is blank"
    assert hook.requests == []


def _tls_receiver(tmp_path, name: str) -> tuple[Receiver, ssl.SSLContext]:
    """The receiver over TLS with a self-signed certificate for ``name`` (and the client
    context that trusts it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    hook = Receiver()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    hook.server.socket = server_context.wrap_socket(hook.server.socket, server_side=True)
    return hook, ssl.create_default_context(cafile=str(cert_file))


def test_https_to_the_checked_address_verifies_the_hosts_certificate(tmp_path):
    name = "hooks.wanflow-test.invalid"
    hook, trust = _tls_receiver(tmp_path, name)
    try:
        to_loopback = lambda h, p: ["127.0.0.1"]  # noqa: E731
        result = post(
            f"https://{name}:{hook.port}/hook", {"run": "r1"}, SECRET, allow_hosts=[name],
            resolve=to_loopback, verify=trust,
        )  # fmt: skip
        assert (result.delivered, result.status_code) == (True, 200), result.error
        ((headers, body),) = hook.requests
        assert headers["Host"] == f"{name}:{hook.port}"
        assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        # Another name at the same address: the certificate does not match it, nothing is sent.
        other = "other.wanflow-test.invalid"
        refused = post(
            f"https://{other}:{hook.port}/hook", {}, SECRET, allow_hosts=[other],
            resolve=to_loopback, verify=trust, retries=0,
        )  # fmt: skip
        assert not refused.delivered and "ConnectError" in refused.error
        assert len(hook.requests) == 1
    finally:
        hook.close()


def test_the_form_of_a_url_is_checked_without_dns():
    from wanflow.callback import check_form

    check_form("https://hooks.example.com/x?token=1")
    check_form("http://hooks.internal/x", ["hooks.internal"])
    for url in ("https://u:hunter2@hooks.example.com/", "http://hooks.example.com/", "https:///x"):
        with pytest.raises(CallbackRefused) as caught:
            check_form(url)
        assert "hunter2" not in str(caught.value)
