"""What a human reviewer looks at: one contact sheet per item and per clip, and one thumbnail.

A reviewer decides from the sheet alone, so the sheet says which item it is (a header with the
item id and the title, which is often Chinese), every tile says where it is in the item (``shot 2
· 00:03.0``: which shot, and seconds from the start of the item, to find the moment in the video),
and flagged tiles cannot be missed (a thick red frame and the classifier's label). Layout and
drawing are deterministic: the same frames give the same bytes.

Text is drawn with the CJK font :mod:`wanflow.fonts` finds (fontconfig's, as for burned-in
subtitles; every machine here has fonts-wqy-microhei), because two items whose titles both print
as "????" cannot be told apart. A character the font cannot draw would come out as a blank
"missing glyph" box that looks like text, so it is drawn as ``?`` instead (after accents are
stripped, é → e) and a warning is logged naming it; without any CJK font, a warning says so and
Pillow's built-in Latin font draws what it can.
"""

from __future__ import annotations

import functools
import logging
import math
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from moderation.frames import as_uint8
from moderation.signals import Frame
from wanflow.fonts import FontError, face_index, find_cjk_font, has_glyph
from wanflow.video import commit_file, temp_beside

__all__ = ["TileLabel", "contact_sheet", "save_jpeg", "shot_starts", "thumbnail", "tile_label"]

log = logging.getLogger(__name__)

_BACKGROUND = (24, 24, 24)
_RED = (230, 0, 0)
_WHITE = (255, 255, 255)
_LABEL_BOX = (0, 0, 0)
_GAP = 8  # between cells and around the sheet
_DETAIL_WIDTH = 160  # frames are compared for detail at one width, whatever their size
_ELLIPSIS = "…"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class TileLabel(NamedTuple):
    """Where a tile is in its item: the reviewer finds it in the video by shot and time, which a
    frame index (counted within one clip) cannot tell them."""

    shot: int | None  # None: a lone clip, labelled by its time alone
    seconds: float  # from the start of the item: the shot's start plus the time within the shot


def tile_label(label: TileLabel) -> str:
    """A pure function, so what a tile says (``shot 2 · 00:03.0``; ``00:03.0`` with no shot) can
    be checked without reading pixels."""
    stamp = _timestamp(label.seconds)
    return stamp if label.shot is None else f"shot {label.shot} · {stamp}"


@functools.cache
def _cjk_font() -> Path | None:
    """Looked up once per process: fontconfig is asked by a subprocess, and a missing font is
    worth one warning, not one per sheet."""
    try:
        return find_cjk_font()
    except FontError as exc:
        log.warning(
            "contact sheets: no CJK font, so Chinese and other non-Latin text is drawn as '?' "
            "with Pillow's built-in font: %s",
            exc,
        )
        return None


@functools.cache
def _font(path: Path | None, size: int) -> Font:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size=size, index=face_index(path))


@functools.cache
def _can_draw(font: Font, ch: str) -> bool:
    """FreeType draws a missing glyph as the font's .notdef box; the bitmap font raises on
    anything outside Latin-1. Both are reduced to a yes/no per character."""
    if isinstance(font, ImageFont.FreeTypeFont):
        return has_glyph(font, ch)
    try:
        ch.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _font_name(font: Font) -> str:
    if isinstance(font, ImageFont.FreeTypeFont):
        return " ".join(n for n in font.getname() if n)
    return "Pillow's bitmap font"


def _drawable(font: Font, text: str) -> str:
    """``text`` as the font can draw it: whitespace as spaces; a character it lacks as its
    accent-stripped form when it has that, else ``?``, and a warning names what was replaced."""
    out, missing = [], []
    for ch in unicodedata.normalize("NFC", text):
        if ch.isspace():
            out.append(" ")
        elif ch.isprintable() and _can_draw(font, ch):
            out.append(ch)
        else:
            plain = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            if plain and plain != ch and all(c.isprintable() and _can_draw(font, c) for c in plain):
                out.append(plain)
            else:
                out.append("?")
                missing.append(ch)
    if missing:
        log.warning(
            "contact sheet: %s has no glyphs for %s; drawn as '?' in %r",
            _font_name(font),
            ", ".join(f"{c!r} (U+{ord(c):04X})" for c in sorted(set(missing))),
            text,
        )
    return "".join(out)


def _width(font: Font, text: str) -> float:
    """How far the text reaches right of where it is drawn: the advance, or the ink where a
    glyph overhangs it."""
    return max(font.getlength(text), font.getbbox(text)[2]) if text else 0.0


def _fit(font: Font, text: str, width: float) -> str:
    """Cut to ``width`` pixels with an ellipsis, so a long title or label never runs past the
    sheet's edge or into a neighbour; a cut that is marked, not silent."""
    text = _drawable(font, text)
    if _width(font, text) <= width:
        return text
    mark = _ELLIPSIS if _can_draw(font, _ELLIPSIS) else "..."
    while text and _width(font, text.rstrip() + mark) > width:
        text = text[:-1]
    text = text.rstrip() + mark
    return text if _width(font, text) <= width else ""


def _timestamp(seconds: float) -> str:
    tenths = max(0, math.floor(seconds * 10 + 0.5))  # rounded once: 59.96 s is 01:00.0, not 00:60.0
    return f"{tenths // 600:02d}:{tenths % 600 // 10:02d}.{tenths % 10}"


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: Font, fill) -> None:
    """Text on a solid box: readable over any frame, white on black or white on red."""
    if not text:
        return
    pad = 2
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=fill)
    draw.text(xy, text, font=font, fill=_WHITE)


def _to_pil(image: object) -> Image.Image:
    return Image.fromarray(as_uint8(image))  # arrays and PIL images of any mode alike


def shot_starts(clips: Sequence[Any]) -> dict[int, float]:
    """Shot → seconds from the start of the item to the shot's first frame (``clips``: each
    with ``shot``, ``frames`` and ``fps``, as generation records them): the clips back to
    back in shot order, each as long as generation recorded (``frames / fps``). Review runs
    before composition, so narration holds and transitions are not in these times; they still
    put the shots in one timeline a reviewer can point into, which per-clip times do not."""
    starts, at = {}, 0.0
    for clip in sorted(clips, key=lambda c: c.shot):
        starts[clip.shot] = at
        at += clip.frames / clip.fps
    return starts


def contact_sheet(
    frames: list[Frame],
    *,
    flagged: dict[int, str] | None = None,
    labels: Sequence[TileLabel] | None = None,
    columns: int = 4,
    tile_width: int = 320,
    item_id: str | None = None,
    title: str | None = None,
    font: Path | None = None,
) -> Image.Image:
    """A grid of ``frames`` in the given order, ``columns`` wide (fewer if there are fewer frames).

    Each tile is the frame scaled to ``tile_width`` with its aspect kept (cells are as tall as the
    tallest tile; shorter ones are centred), labelled bottom-left with :func:`tile_label` of its
    entry in ``labels`` (one per frame, in order: ``(shot, seconds from the item's start)``), or
    with the frame's own time when ``labels`` is None. ``item_id`` and ``title``, when given,
    head the sheet on one line, cut with an ellipsis to the sheet's width. ``font`` is a font
    file for all text; by default a CJK font from fontconfig (Pillow's Latin font, with a
    warning, when there is none). ``flagged`` maps frame indices to a short label ("nudity
    0.91"): those tiles get a thick red frame around the picture (outside it, hiding none of it)
    and the label top-left. A flag for an index not among ``frames`` raises ValueError: a sheet
    that silently omits a flagged frame would tell the reviewer it does not exist.
    """
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    if isinstance(tile_width, bool) or not isinstance(tile_width, int) or tile_width < 32:
        raise ValueError(f"tile_width must be an integer ≥ 32, got {tile_width!r}")
    if labels is None:
        labels = [TileLabel(None, f.time_s) for f in frames]
    elif len(labels) != len(frames):
        raise ValueError(f"{len(labels)} labels for {len(frames)} frames: one label per frame")
    flagged = dict(flagged or {})
    missing = sorted(set(flagged) - {f.index for f in frames})
    if missing:
        raise ValueError(f"flagged frames {missing} are not among the frames of the sheet")

    path = Path(font) if font is not None else _cjk_font()
    small = _font(path, max(12, tile_width // 20))
    border = max(4, tile_width // 40)
    tiles = []
    for frame in frames:
        image = _to_pil(frame.image)
        height = max(1, round(image.height * tile_width / image.width))
        tiles.append(image.resize((tile_width, height), Image.Resampling.LANCZOS))
    tile_height = max(t.height for t in tiles)
    cell_w, cell_h = tile_width + 2 * border, tile_height + 2 * border
    cols = min(columns, len(frames))
    rows = -(-len(frames) // cols)
    width = cols * cell_w + (cols + 1) * _GAP

    header = " · ".join(part for part in (item_id, title) if part and part.strip())
    header_font = _font(path, max(12, tile_width // 14))
    header_h = header_top = 0
    if header:
        header = _fit(header_font, header, width - 2 * _GAP)
        # The probe keeps the header one height whatever the title; the text's own box only
        # matters when a glyph reaches further.
        probe = "Ag中" if _can_draw(header_font, "中") else "Ag"
        _, top, _, bottom = header_font.getbbox(probe)
        if header:
            _, text_top, _, text_bottom = header_font.getbbox(header)
            top, bottom = min(top, text_top), max(bottom, text_bottom)
        header_top, header_h = top, bottom - top + 2 * _GAP
    height = header_h + rows * cell_h + (rows + 1) * _GAP
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if header:
        draw.text((_GAP, _GAP - header_top), header, font=header_font, fill=_WHITE)

    for n, (frame, tile, label) in enumerate(zip(frames, tiles, labels, strict=True)):
        x0 = _GAP + (n % cols) * (cell_w + _GAP)
        y0 = header_h + _GAP + (n // cols) * (cell_h + _GAP)
        x, y = x0 + border, y0 + border + (tile_height - tile.height) // 2
        if frame.index in flagged:
            draw.rectangle(
                (x - border, y - border, x + tile.width + border - 1, y + tile.height + border - 1),
                fill=_RED,
            )
        sheet.paste(tile, (x, y))
        room = tile.width - 8
        stamp = _fit(small, tile_label(TileLabel(*label)), room)
        _, _, _, bottom = draw.textbbox((0, 0), stamp or " ", font=small)
        _label(draw, (x + 4, y + tile.height - 4 - bottom), stamp, small, _LABEL_BOX)
        if frame.index in flagged:
            flag = _fit(small, flagged[frame.index], room)
            _, top, _, _ = draw.textbbox((0, 0), flag or " ", font=small)
            _label(draw, (x + 4, y + 4 - top), flag, small, _RED)
    return sheet


def _detail(image: np.ndarray) -> float:
    """Variance of a 4-neighbour Laplacian of the grey frame at a fixed width: high for edges
    and texture, near 0 for flat, dark, faded or blurred frames."""
    pil = Image.fromarray(image).convert("L")
    height = max(3, round(pil.height * _DETAIL_WIDTH / pil.width))
    grey = np.asarray(pil.resize((_DETAIL_WIDTH, height), Image.Resampling.BOX), np.float64)
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def thumbnail(frames: list[Frame], *, width: int = 640) -> Image.Image:
    """The most detailed frame (largest Laplacian variance, the earliest on ties), scaled to
    ``width`` with its aspect kept (up or down).

    Why not the middle frame: clips open and close on fades, flat colour or motion blur, and a
    thumbnail is how a reviewer recognises a clip in a queue; the frame with most edges and
    texture is the one that shows what the clip is of. Noise also scores high, which for a
    generated clip is worth seeing, not hiding.
    """
    if not frames:
        raise ValueError("a thumbnail needs at least one frame")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    images = [as_uint8(f.image) for f in frames]
    scores = [_detail(image) for image in images]
    best = images[int(np.argmax(scores))]  # argmax returns the first maximum
    height = max(1, round(best.shape[0] * width / best.shape[1]))
    return Image.fromarray(best).resize((width, height), Image.Resampling.LANCZOS)


def save_jpeg(image: Image.Image | np.ndarray, path: Path, quality: int = 88) -> Path:
    """Written beside ``path`` and renamed into place (``wanflow.video``'s own temp-and-fsync
    helpers), so a review UI polling the folder never serves half a JPEG."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer 1–100, got {quality!r}")
    pil = _to_pil(image)
    path = Path(path)
    tmp = temp_beside(path)
    try:
        pil.save(tmp, format="JPEG", quality=quality, optimize=True)
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
