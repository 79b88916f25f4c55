"""The run-end callback: a JSON POST to a manifest's ``callback_url``, signed so the receiver
can tell it came from this deployment and was not replayed.

Signature: ``X-Wanflow-Signature: sha256=<hex>``, the HMAC-SHA256 (key
``WANFLOW_CALLBACK_SECRET``) of ``<timestamp>.<body>``, with the timestamp (Unix seconds) in
``X-Wanflow-Timestamp``: a receiver recomputes it over the raw body and rejects old timestamps.
Network errors, timeouts, 429 and 5xx are retried with backoff; other answers are final.

The URL comes from a manifest, that is from whoever can write to ``incoming/``, while the POST
leaves from inside the deployment's network: it must not become a way to reach the metadata
service, the S3 server or anything else on the inside. So a destination is checked before
anything is sent (https only; no credentials in the URL; every address the host resolves to
public, unless the operator's ``WANFLOW_CALLBACK_ALLOW_HOSTS`` names the host), the connection is
made to the very address that was checked (a second DNS answer cannot switch it), redirects are
not followed, and nothing of the receiver's answer but its status code is kept or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from wanflow import __version__

if TYPE_CHECKING:
    from wanflow.settings import Settings

Logger = logging.Logger | logging.LoggerAdapter
log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Wanflow-Signature"
TIMESTAMP_HEADER = "X-Wanflow-Timestamp"
EVENT_HEADER = "X-Wanflow-Event"

Resolver = Callable[[str, int], list[str]]


class CallbackRefused(ValueError):
    """A destination the callback will not reach; the message never carries the URL's
    credentials or query."""


class CallbackResult(BaseModel):
    url: str
    delivered: bool
    status_code: int | None = None
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Destination:
    """A checked callback target: the URL as the receiver sees it, and the one address the
    connection goes to."""

    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: str


def redact(url: str) -> str:
    """The URL fit for a report or a log: scheme, host, port and path; no user, password,
    query or fragment (a token is as likely in the query as in the user part)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def check_form(url: str, allow_hosts: Iterable[str] = ()) -> None:
    """The checks that need no DNS (scheme, credentials, a host), for validating a manifest as
    soon as it is read; ``CallbackRefused`` says what is wrong without repeating a password."""
    _parse(url, _allowed(allow_hosts))


def _allowed(allow_hosts: Iterable[str]) -> set[str]:
    return {h.strip().lower().strip("[]") for h in allow_hosts if h.strip()}


def _parse(url: str, allowed: set[str]) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused("the callback URL cannot be parsed") from exc
    shown = redact(url)
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused(f"{shown}: credentials in a callback URL are not accepted")
    host = (parts.hostname or "").lower()
    if not host:
        raise CallbackRefused(f"{shown}: the callback URL names no host")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in allowed):
        raise CallbackRefused(
            f"{shown}: callbacks go over https (http only to a host in "
            "WANFLOW_CALLBACK_ALLOW_HOSTS)"
        )
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), target


def check_url(
    url: str, allow_hosts: Iterable[str] = (), *, resolve: Resolver = _resolve
) -> Destination:
    """Where the callback may go, or ``CallbackRefused`` saying why not."""
    allowed = _allowed(allow_hosts)
    scheme, host, port, target = _parse(url, allowed)
    shown = redact(url)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise CallbackRefused(f"{shown}: {host} does not resolve ({exc})") from exc
    if not addresses:
        raise CallbackRefused(f"{shown}: {host} does not resolve")
    if host not in allowed:
        inner = [a for a in addresses if not _public(a) and a.lower() not in allowed]
        if inner:
            raise CallbackRefused(
                f"{shown}: {host} resolves to {', '.join(inner)}, a private, loopback, "
                "link-local, multicast or reserved address; WANFLOW_CALLBACK_ALLOW_HOSTS "
                "may name it"
            )
    return Destination(scheme, host, port, target, addresses[0])


def sign(secret: str, timestamp: int, body: bytes) -> str:
    if not secret.strip():
        raise ValueError("refusing to sign with a blank key")
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age_s: int = 300) -> bool:
    """What a receiver does (and what the tests do): constant-time compare, bounded age."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - stamp) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def _pinned_url(dest: Destination) -> str:
    address = f"[{dest.address}]" if ":" in dest.address else dest.address
    return f"{dest.scheme}://{address}:{dest.port}{dest.target}"


def _host_header(dest: Destination) -> str:
    host = f"[{dest.host}]" if ":" in dest.host else dest.host
    default = 443 if dest.scheme == "https" else 80
    return host if dest.port == default else f"{host}:{dest.port}"


def post(
    url: str,
    payload: dict[str, Any],
    secret: str,
    *,
    allow_hosts: Iterable[str] = (),
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    resolve: Resolver = _resolve,
    verify: ssl.SSLContext | bool = True,
) -> CallbackResult:
    """POST ``payload`` to ``url``; never raises: the run has ended, the result is reported.
    ``verify`` is httpx's: the certificates trusted (a receiver's private CA, in tests)."""
    import httpx

    result = CallbackResult(url=redact(url), delivered=False)
    if not secret.strip():
        result.error = "not sent: the signing key is blank"
        return result
    try:
        dest = check_url(url, allow_hosts, resolve=resolve)
    except CallbackRefused as exc:
        result.error = f"not sent: {exc}"
        return result
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    # The address checked above is the one connected to, on every attempt; TLS still verifies
    # the certificate against the host name (SNI), and the receiver sees its own Host.
    extensions = {"sni_hostname": dest.host} if dest.scheme == "https" else {}
    client = httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False, verify=verify)
    with client:
        for attempt in range(retries + 1):
            if attempt:
                sleep(backoff_s * 2 ** (attempt - 1))
            result.attempts = attempt + 1
            stamp = int(time.time())  # signed per attempt: a late retry is not a stale one
            headers = {
                "Host": _host_header(dest),
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"wanflow/{__version__}",
                SIGNATURE_HEADER: sign(secret, stamp, body),
                TIMESTAMP_HEADER: str(stamp),
                EVENT_HEADER: "run.finished",
            }
            request = client.build_request(
                "POST", _pinned_url(dest), content=body, headers=headers, extensions=extensions
            )
            try:
                # Streamed and closed unread: the receiver's body is neither kept nor logged.
                response = client.send(request, stream=True)
                response.close()
            except httpx.HTTPError as exc:
                result.status_code, result.error = None, f"{type(exc).__name__}: {exc}"
                continue
            result.status_code = response.status_code
            if response.is_success:
                result.delivered, result.error = True, None
                return result
            result.error = f"HTTP {response.status_code}"
            if response.is_redirect:
                result.error += " (a redirect: not followed)"
            if response.status_code != 429 and response.status_code < 500:
                return result  # the receiver refused this request; sending it again will not help
    return result


def deliver(
    url: str, payload: dict[str, Any], settings: Settings, logger: Logger = log
) -> CallbackResult:
    """The run-end callback as the settings configure it (signing key, allowed hosts, timeout,
    retries), with its outcome logged; never raises. Without a signing key nothing is sent:
    an unsigned callback could not be told from a forged one."""
    shown = redact(url)
    if settings.callback_secret is None:
        logger.warning("callback to %s not sent: WANFLOW_CALLBACK_SECRET is unset", shown)
        return CallbackResult(
            url=shown, delivered=False, error="not sent: WANFLOW_CALLBACK_SECRET is unset"
        )
    result = post(
        url,
        payload,
        settings.callback_secret.get_secret_value(),
        allow_hosts=settings.callback_allow_hosts,
        timeout_s=settings.callback_timeout_s,
        retries=settings.callback_retries,
    )
    if result.delivered:
        logger.info("callback delivered to %s (HTTP %s)", shown, result.status_code)
    else:
        logger.error("callback to %s failed after %d attempt(s): %s", shown, result.attempts,
                     result.error)  # fmt: skip
    return result


__all__ = [
    "CallbackRefused",
    "CallbackResult",
    "Destination",
    "check_form",
    "check_url",
    "deliver",
    "post",
    "redact",
    "sign",
    "verify",
]
