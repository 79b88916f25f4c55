"""Markdown that Wanflow writes for the Prefect UI (artifacts, the approval form): what a
manifest's author typed shows as text, never as markup.

Titles, prompts, ids, reasons and error messages come from whoever writes manifests; the Prefect
UI renders markdown, so ``<img src=x onerror=…>``, ``[x](javascript:…)`` or an image beacon
``![](http://evil/beacon)`` in a title would otherwise run, link or load in a reviewer's browser.
:func:`text` makes any string one line of literal text (HTML-significant characters as entities,
markdown punctuation backslash-escaped, bare URLs broken so that no renderer autolinks them), and
links or images are only ever written by :func:`link` and :func:`image`, to URLs Wanflow itself
made: presigned URLs of the configured bucket, or the address of one Prefect artifact.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from wanflow.settings import Settings

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# What opens inline markup anywhere in a line (emphasis, code, links, images, tables,
# strikethrough, escapes); '(' and ')' are harmless once '[' and ']' are escaped.
_ANYWHERE = set("\\`*_[]|~!@")
# What opens a block at the start of a line: headings, quotes, lists, rules, setext.
_LINE_START = re.compile(r"^(?:[#>=+-]|\d+[.)])")
# Bare URLs that GitHub-flavoured renderers turn into links: scheme:// and www.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9+.-])(:)(?=//)|(?<=\bwww)(\.)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")
_ARTIFACT_PATH = re.compile(r"/artifacts/artifact/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")

UrlCheck = Callable[[str], bool]


def plain(value: object) -> str:
    """``value`` as one line of plain text, for what the UI shows as text, not markdown (a form
    field's title): control and direction characters become spaces; nothing is escaped, since
    there an escape would show."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def text(value: object) -> str:
    """``value`` as one line of literal markdown text: readable as written, opening nothing."""
    line = plain(value)
    escaped = "".join(
        _ENTITIES.get(char) or ("\\" + char if char in _ANYWHERE else char) for char in line
    )
    escaped = _AUTOLINK.sub(lambda m: "\\" + (m[1] or m[2]), escaped)
    start = _LINE_START.match(escaped)
    if start:  # the block marker's punctuation, not the digits of "1." (not escapable)
        at = start.end() - 1
        escaped = f"{escaped[:at]}\\{escaped[at:]}"
    return escaped


def code(value: object) -> str:
    """An identifier (an id, a key, a run) as inline code when it is one plainly, else as
    :func:`text`: a code span shows its content literally, but only what cannot close it, and
    nothing a lax renderer might still turn into a link, is put in one."""
    line = " ".join(str(value).split())
    plain = re.fullmatch(r"[\w./+=,-]+(?: [\w./+=,-]+)*", line)
    if plain and not re.search(r"(?i)\bwww\.", line):
        return f"`{line}`"
    return text(line)


def bucket_url(url: str | None, settings: Settings) -> bool:
    """A presigned URL of ``settings``' bucket: the endpoint's scheme and host:port, a path in
    the bucket, no credentials."""
    if not url or not _URL_CHARS.fullmatch(url):
        return False
    if not settings.s3_endpoint:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = "https" if settings.s3_secure else "http"
    default = 443 if settings.s3_secure else 80
    try:
        endpoint = urlsplit(f"{scheme}://{settings.s3_endpoint}")
        same_port = (parts.port or default) == (endpoint.port or default)
    except ValueError:
        return False
    return (
        parts.scheme == scheme
        and parts.username is None
        and parts.hostname == endpoint.hostname
        and same_port
        and parts.path.startswith(f"/{settings.s3_bucket}/")
        and not {".", ".."} & {unquote(seg) for seg in parts.path.split("/")}  # no way out
    )


def bucket_urls(settings: Settings) -> UrlCheck:
    """:func:`bucket_url` for one deployment's bucket, as ``allowed`` for :func:`link` and
    :func:`image`."""
    return functools.partial(bucket_url, settings=settings)


def artifact_url(url: str | None) -> bool:
    """The address of one Prefect artifact in the UI, as the approval flow builds it."""
    if not url or not _URL_CHARS.fullmatch(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and not parts.query
        and not parts.fragment
        and re.fullmatch(r"(?:/[A-Za-z0-9._~-]+)*" + _ARTIFACT_PATH.pattern, parts.path) is not None
    )


def link(label: str, url: str | None, allowed: UrlCheck) -> str:
    """``[label](url)`` when ``allowed(url)`` (:func:`bucket_urls` or :func:`artifact_url`: no
    default, since which bucket is the caller's settings'); otherwise only the label, as text."""
    shown = text(label)
    return f"[{shown}]({url})" if url and allowed(url) else shown


def image(alt: str, url: str | None, allowed: UrlCheck) -> str:
    """``![alt](url)`` when ``allowed(url)``; otherwise nothing: a picture from elsewhere is a
    beacon."""
    return f"![{text(alt)}]({url})" if url and allowed(url) else ""


__all__ = ["artifact_url", "bucket_url", "bucket_urls", "code", "image", "link", "text"]
