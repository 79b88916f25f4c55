"""Finding a font that can draw Chinese: for burned-in subtitles and for contact sheets.

libass with no font covering a glyph draws nothing and ffmpeg still exits 0, and Pillow draws a
"missing glyph" box, so text that may be Chinese must be given a CJK font explicitly, or the
caller must say it has none. A font is accepted only after its glyphs for a few common Han
characters are seen to differ from its "missing glyph" box: ``fc-match`` always answers with
*some* font (DejaVu for ``:lang=zh`` on a machine without CJK fonts), and a file's name says
nothing about what it covers. Pure lookup, no stage's policy: ``postprocess`` and ``moderation``
both use it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_SUFFIXES = frozenset({".ttf", ".ttc", ".otf", ".otc"})
# Common characters from different radicals: a font missing any of them is not a Chinese font.
_PROBE = "中文字幕说"
# A noncharacter: no font maps it, so FreeType draws the font's .notdef box for it.
_MISSING = "\U0010ffff"
# Among the faces of a collection (Noto Sans CJK has JP, KR, SC, TC, HK), the Simplified
# Chinese one draws the glyph forms a Chinese viewer expects.
_PREFERRED_FACE_MARKS = (" SC", " CN", "GB", " TC", " HK")
_NOT_REGULAR = frozenset(
    {"thin", "light", "medium", "demi", "semi", "bold", "black", "heavy", "extra"}
    | {"italic", "oblique", "condensed"}
)
_INSTALL = (
    "install a CJK font (Debian/Ubuntu: apt-get install fonts-wqy-microhei, or fonts-noto-cjk), "
    "or put a .ttf/.ttc/.otf font with Chinese glyphs in a folder and give that folder"
)
# Han, CJK punctuation, kana, Hangul, bopomofo, full-width forms: none of these are in the Latin
# fonts libass falls back to.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x2FDF),
    (0x3000, 0x33FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


class FontError(RuntimeError):
    """No usable font: says where it looked and how to provide one."""


def needs_cjk(text: str) -> bool:
    """Whether drawing ``text`` takes glyphs that only CJK fonts have (Han, kana, Hangul,
    Chinese punctuation such as ``，`` and ``。``)."""
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in _CJK_RANGES)


def find_cjk_font(font_dir: Path | None = None) -> Path:
    """A font file that draws Chinese.

    With ``font_dir``: only the fonts in that folder (searched recursively) are considered, so an
    operator's choice is never silently replaced by a system font. Without: the fonts fontconfig
    lists for ``:lang=zh``, sans-serif faces first. Raises :class:`FontError` saying how to
    install one when none is found.
    """
    if font_dir is not None:
        font_dir = Path(font_dir)
        if not font_dir.is_dir():
            raise FontError(f"font folder {font_dir} does not exist; {_INSTALL}")
        candidates = font_files(font_dir)
        where = f"in {font_dir} ({len(candidates)} font files)"
    else:
        candidates = _fontconfig_chinese()
        where = f"among fontconfig's fonts for :lang=zh ({len(candidates)} files)"
    for path in candidates:
        if covers(path, _PROBE):
            return path
    raise FontError(f"no font with Chinese glyphs {where}: {_INSTALL}")


def font_files(folder: Path) -> list[Path]:
    """Font files under ``folder``, regular-weight sans faces first."""
    found = (p for p in Path(folder).rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
    return sorted((p for p in found if p.is_file()), key=_preference)


def covers(path: Path, text: str) -> bool:
    """Whether the font's chosen face (:func:`face_index`) has a glyph for every non-space
    character of ``text``. Unreadable files cover nothing."""
    try:
        font = ImageFont.truetype(str(path), size=24, index=face_index(path))
    except OSError:
        return False
    return all(has_glyph(font, ch) for ch in set(text) if not ch.isspace())


def has_glyph(font: ImageFont.FreeTypeFont, ch: str) -> bool:
    """Whether ``font`` draws ``ch`` as something other than its .notdef box. FreeType never
    says a glyph is missing; it draws the box, so the two drawings are compared."""
    return _drawn(font, ch) != _drawn(font, _MISSING)


def _drawn(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    size = max(40, 2 * round(font.size) + 8)  # the whole glyph, at any font size
    image = Image.new("L", (size, size))
    ImageDraw.Draw(image).text((4, 4), ch, font=font, fill=255)
    return image.tobytes()


@functools.cache
def _faces(path: Path) -> tuple[str, ...]:
    """``family style`` of each face in a font file (one, unless it is a collection)."""
    names = []
    for index in range(64):
        try:
            family, style = ImageFont.truetype(str(path), size=12, index=index).getname()
        except OSError:
            break
        names.append(f"{family} {style}")
    return tuple(names)


def face_index(path: Path) -> int:
    """Which face of a collection to use: a Simplified Chinese one when the collection says
    which is which, else the first."""
    faces = _faces(Path(path))
    for mark in _PREFERRED_FACE_MARKS:
        for index, name in enumerate(faces):
            if mark in name:
                return index
    return 0


def family(path: Path) -> str:
    """The family name libass selects the font by (``force_style=FontName=...``)."""
    try:
        name, _ = ImageFont.truetype(str(path), size=12, index=face_index(path)).getname()
    except OSError as exc:
        raise FontError(f"{path} is not a font file that FreeType can read: {exc}") from exc
    if not name:
        raise FontError(f"{path} has no family name, so libass cannot select it")
    return name


def _fontconfig_chinese() -> list[Path]:
    """fontconfig's fonts declaring Chinese coverage; sans before serif and mono, since
    subtitles are set in sans. Empty when fontconfig is not installed."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    done = subprocess.run(
        [fc_list, ":lang=zh", "file"], capture_output=True, text=True, check=False, timeout=60
    )
    paths = {Path(line.rstrip().rstrip(":")) for line in done.stdout.splitlines() if line.strip()}
    return sorted((p for p in paths if p.is_file()), key=_preference)


def _preference(path: Path) -> tuple[bool, bool, str]:
    """Sort key: subtitles are set in an upright regular sans, so serif, mono, other weights
    and slants (``NotoSansCJK-Black.ttc`` sorts before ``-Regular``) come later."""
    name = path.name.lower()
    return ("serif" in name or "mono" in name, any(w in name for w in _NOT_REGULAR), str(path))
