"""The CJK font lookup burned-in subtitles use; it lives in :mod:`wanflow.fonts` because contact
sheets (in ``moderation``, which may import only the core package) need the same lookup."""

from wanflow.fonts import (
    FONT_SUFFIXES,
    FontError,
    covers,
    face_index,
    family,
    find_cjk_font,
    font_files,
    has_glyph,
    needs_cjk,
)

__all__ = [
    "FONT_SUFFIXES",
    "FontError",
    "covers",
    "face_index",
    "family",
    "find_cjk_font",
    "font_files",
    "has_glyph",
    "needs_cjk",
]
