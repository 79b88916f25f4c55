"""What a human reviewer looks at: one contact sheet per clip and one thumbnail.

A reviewer decides from the sheet alone, so every tile says when it is (``mm:ss.s`` and the frame
index, to find the moment in the video) and flagged tiles cannot be missed (a thick red frame and
the classifier's label). Layout and drawing are deterministic: the same frames give the same bytes.

Text uses Pillow's built-in font (``ImageFont.load_default``: a small Latin-only FreeType font, or
the Latin-1 bitmap font where Pillow lacks FreeType), because machines here have no other fonts
and a sheet must not depend on what is installed. Characters it cannot draw (Chinese, emoji, most
symbols) are drawn as ``?`` after accents are stripped (é → e); a reviewer still sees the Latin
parts of a title, such as a job id, and the question marks say something was left out.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from moderation.frames import as_uint8
from moderation.signals import Frame
from wanflow.video import commit_file, temp_beside

__all__ = ["contact_sheet", "save_jpeg", "thumbnail"]

_BACKGROUND = (24, 24, 24)
_RED = (230, 0, 0)
_WHITE = (255, 255, 255)
_LABEL_BOX = (0, 0, 0)
_GAP = 8  # between cells and around the sheet
_DETAIL_WIDTH = 160  # frames are compared for detail at one width, whatever their size

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@functools.cache
def _can_draw(font: Font, ch: str) -> bool:
    """FreeType draws a missing glyph as the font's .notdef box; the bitmap font raises on
    anything outside Latin-1. Both are reduced to a yes/no per character."""
    if isinstance(font, ImageFont.FreeTypeFont):

        def mask(c: str) -> tuple[tuple[int, int], bytes]:
            m = font.getmask(c)
            return m.size, bytes(m)

        return mask(ch) != mask("\U0010fffd")  # a private-use code point: surely .notdef
    try:
        ch.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _drawable(font: Font, text: str) -> str:
    """``text`` as the font can draw it: accents stripped, whitespace as spaces, the rest ``?``."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        if ch.isspace():
            out.append(" ")
        elif ch.isprintable() and _can_draw(font, ch):
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _fit(font: Font, text: str, width: float) -> str:
    """Cut to ``width`` pixels with a ".." mark, so a long label never spills into a neighbour."""
    text = _drawable(font, text)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "..") > width:
        text = text[:-1]
    return text + ".." if text else ""


def _timestamp(seconds: float) -> str:
    tenths = max(0, math.floor(seconds * 10 + 0.5))  # rounded once: 59.96 s is 01:00.0, not 00:60.0
    return f"{tenths // 600:02d}:{tenths % 600 // 10:02d}.{tenths % 10}"


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: Font, fill) -> None:
    """Text on a solid box: readable over any frame, white on black or white on red."""
    pad = 2
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=fill)
    draw.text(xy, text, font=font, fill=_WHITE)


def _to_pil(image: object) -> Image.Image:
    return Image.fromarray(as_uint8(image))  # arrays and PIL images of any mode alike


def contact_sheet(
    frames: list[Frame],
    *,
    flagged: dict[int, str] | None = None,
    columns: int = 4,
    tile_width: int = 320,
    title: str | None = None,
) -> Image.Image:
    """A grid of ``frames`` in the given order, ``columns`` wide (fewer if there are fewer frames).

    Each tile is the frame scaled to ``tile_width`` with its aspect kept (cells are as tall as the
    tallest tile; shorter ones are centred), labelled bottom-left with ``mm:ss.s #index``.
    ``flagged`` maps frame indices to a short label ("nudity 0.91"): those tiles get a thick red
    frame around the picture (outside it, hiding none of it) and the label top-left. A flag for
    an index not among ``frames`` raises ValueError: a sheet that silently omits a flagged frame
    would tell the reviewer it does not exist.
    """
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    if isinstance(tile_width, bool) or not isinstance(tile_width, int) or tile_width < 32:
        raise ValueError(f"tile_width must be an integer ≥ 32, got {tile_width!r}")
    flagged = dict(flagged or {})
    missing = sorted(set(flagged) - {f.index for f in frames})
    if missing:
        raise ValueError(f"flagged frames {missing} are not among the frames of the sheet")

    font = _font(max(10, tile_width // 20))
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

    title_font = _font(max(12, tile_width // 14))
    title_h = title_top = 0
    if title is not None:
        _, title_top, _, bottom = title_font.getbbox("Ag")
        title_h = bottom - title_top + 2 * _GAP
    width = cols * cell_w + (cols + 1) * _GAP
    height = title_h + rows * cell_h + (rows + 1) * _GAP
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title is not None:
        draw.text(
            (_GAP, _GAP - title_top),
            _fit(title_font, title, width - 2 * _GAP),
            font=title_font,
            fill=_WHITE,
        )

    for n, (frame, tile) in enumerate(zip(frames, tiles, strict=True)):
        x0 = _GAP + (n % cols) * (cell_w + _GAP)
        y0 = title_h + _GAP + (n // cols) * (cell_h + _GAP)
        x, y = x0 + border, y0 + border + (tile_height - tile.height) // 2
        if frame.index in flagged:
            draw.rectangle(
                (x - border, y - border, x + tile.width + border - 1, y + tile.height + border - 1),
                fill=_RED,
            )
        sheet.paste(tile, (x, y))
        room = tile.width - 8
        stamp = _fit(font, f"{_timestamp(frame.time_s)} #{frame.index}", room)
        _, top, _, bottom = draw.textbbox((0, 0), stamp or " ", font=font)
        _label(draw, (x + 4, y + tile.height - 4 - bottom), stamp, font, _LABEL_BOX)
        if frame.index in flagged:
            _label(draw, (x + 4, y + 4 - top), _fit(font, flagged[frame.index], room), font, _RED)
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
