"""Which encoding a manifest file is in, decided from the whole file, never from a guess.

Excel writes Chinese CSV as GBK, so a file that is not UTF-8 may be GBK. But almost any byte
sequence decodes as GBK, and a UTF-8 file with one stray byte would turn every "é" into "茅" if
GBK were the fallback for anything that is not UTF-8. So GBK is chosen only when the whole file
decodes as GBK, reads as Chinese, and does not look like UTF-8 with a few bad bytes; a UTF-8 file
with a few bad bytes is read as UTF-8 and the rows holding them are rejected; anything else is
one error naming the first bad byte.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 16  # decoded a piece at a time: 64 KiB decodes a third faster than 1 MiB
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?): save it as 'CSV UTF-8' instead",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 .xls workbook: save it as 'CSV UTF-8' instead",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
# Bytes that are not UTF-8 come back from ``surrogateescape`` as U+DC80..U+DCFF.
ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_ASCII = re.compile("[\x00-\x7f]+")
_NOT_CJK = re.compile("[^\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# At least this share of a GBK reading's non-ASCII characters must be Chinese characters or CJK
# punctuation in GB2312 (the common set Excel's Chinese text is made of); the mojibake of a stray
# byte next to ASCII is a rare GBK-only character.
_CHINESE_SHARE = 0.5


class EncodingError(ValueError):
    """The file's bytes are not text in any encoding a manifest may use."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass
class Decoding:
    """How to open the file: ``errors`` is ``surrogateescape`` for UTF-8 with a few bad bytes,
    whose rows are then rejected; ``warning`` says so once."""

    encoding: str
    errors: str = "strict"
    warning: str | None = None
    # At least the bytes of the file's longest line, newline included, where known: in these
    # encodings a newline byte is always a newline and a character at least a byte, so no line
    # has more characters than this. ``None``: unknown (UTF-16, or bytes that are not text).
    longest_line: int | None = None


def first_bad_byte(path: Path, encoding: str) -> tuple[int, int] | None:
    """``None`` if the whole file decodes; else (byte offset, line) of the first bad byte."""
    return _scan(path, encoding)[0]


def _scan(path: Path, encoding: str) -> tuple[tuple[int, int] | None, int]:
    """``first_bad_byte``, and a bound on the bytes of the file's longest line (newline
    included) where the file decodes: found on the way for the price of two searches a piece,
    it spares the reader a length check on every line."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = longest = run = 0  # run: the bytes since the last newline
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            # The decoder holds the start of a character the last piece cut, and counts the
            # error's position from there.
            held = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                offset += max(exc.start, 0) - held
                return (offset, _line_at(path, offset)), 0
            offset += len(chunk)
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
                continue
            last = chunk.rfind(b"\n")
            # The line the piece ends, then at most the lines between its first and last newline.
            longest = max(longest, run + first + 1, last - first)
            run = len(chunk) - last - 1
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return (offset, _line_at(path, offset)), 0
    return None, max(longest, run)


def _line_at(path: Path, offset: int) -> int:
    """The line holding byte ``offset``; counted only when asked (a tenth of a clean pass)."""
    lines = 1
    with path.open("rb") as f:
        while offset > 0 and (chunk := f.read(min(_CHUNK, offset))):
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


def _utf8_counts(path: Path) -> tuple[int, int]:
    """(bytes that are not UTF-8, well-formed multi-byte UTF-8 characters) in the file."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    bad = good = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            wide = _ASCII.sub("", decoder.decode(chunk, final=not chunk))
            escaped = len(wide) - len(ESCAPED_BYTE.sub("", wide))
            bad += escaped
            good += len(wide) - escaped
            if not chunk:
                return bad, good


def _reads_as_chinese(path: Path, encoding: str) -> bool:
    """Most non-ASCII characters of the file, read as ``encoding``, are common Chinese."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    non_ascii = chinese = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            wide = _ASCII.sub("", decoder.decode(chunk, final=not chunk))
            non_ascii += len(wide)
            cjk = _NOT_CJK.sub("", wide)
            chinese += len(cjk.encode("gb2312", errors="ignore")) // 2
            if not chunk:
                break
    return non_ascii > 0 and chinese >= _CHINESE_SHARE * non_ascii


def detect(path: Path) -> Decoding:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GBK/GB18030 as Excel writes Chinese."""
    with path.open("rb") as f:
        head = f.read(8192)
    if not head:
        raise EncodingError("the file is empty")
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        bad = first_bad_byte(path, "utf-16")
        if bad is not None:
            raise EncodingError(
                f"the file starts as UTF-16 but is not UTF-16 from byte offset {bad[0]} on",
            )
        return Decoding("utf-16")
    else:
        for magic, what in _SIGNATURES.items():
            if head.startswith(magic):
                raise EncodingError(f"the file is {what}, not a CSV/JSON manifest")
        if b"\x00" in head:
            offset = head.index(b"\x00")
            raise EncodingError(
                f"the file is binary (NUL byte at offset {offset}), not a CSV/JSON manifest"
            )
        encoding = "utf-8"
    bad, longest = _scan(path, encoding)
    if bad is None:
        return Decoding(encoding, longest_line=longest)
    offset, line = bad
    invalid, valid = _utf8_counts(path)
    if encoding == "utf-8" and invalid > valid:
        # More bad bytes than UTF-8 characters: not UTF-8 with a slip, perhaps GBK.
        for fallback in ("gbk", "gb18030"):
            bad, longest = _scan(path, fallback)
            if bad is None and _reads_as_chinese(path, fallback):
                # A GBK or GB18030 byte after a lead byte is never 0x0A: newlines are newlines.
                return Decoding(fallback, longest_line=longest)
    if invalid <= max(valid, 1):
        return Decoding(
            encoding,
            errors="surrogateescape",
            warning=f"the file is UTF-8 except for {invalid} byte(s) that are not, the first at "
            f"byte offset {offset} (line {line}); the rows holding them are rejected",
        )
    raise EncodingError(
        f"the file is neither UTF-8 nor GBK/GB18030 (first undecodable byte at offset {offset}); "
        "save it as 'CSV UTF-8'",
        line=line,
    )
