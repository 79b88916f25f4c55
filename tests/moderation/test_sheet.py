"""moderation.sheet: grids that keep their layout, flags that show, labels that are drawn, and
headers that say which item a sheet is, in Chinese too."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

import moderation.sheet as sheet_module
from moderation.sheet import (
    TileLabel,
    contact_sheet,
    save_jpeg,
    shot_starts,
    thumbnail,
    tile_label,
)
from moderation.signals import Frame
from wanflow.fonts import FontError, find_cjk_font
from wanflow.report import Clip

H, W, TILE = 48, 64, 160  # tiles are 160 × 120
# Flat colours, none of them red, one per frame: each tile can be found by its colour.
PALETTE = [
    (40, 90, 200),
    (30, 160, 60),
    (200, 200, 40),
    (120, 40, 160),
    (40, 160, 160),
    (160, 120, 80),
    (90, 90, 90),
    (200, 120, 200),
]


def flat(colour, height=H, width=W) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def flat_frames(n: int) -> list[Frame]:
    return [Frame(index=3 * i, time_s=0.75 * i, image=flat(PALETTE[i])) for i in range(n)]


def as_array(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def tile_box(sheet: np.ndarray, colour) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), inclusive, of the pixels of exactly ``colour``."""
    ys, xs = np.nonzero((sheet == colour).all(axis=-1))
    assert len(ys), f"no tile of colour {colour}"
    return xs.min(), ys.min(), xs.max(), ys.max()


def ring(sheet: np.ndarray, box, depth: int = 2) -> np.ndarray:
    """Pixels in a band ``depth`` wide just outside ``box``."""
    left, top, right, bottom = box
    outer = sheet[top - depth : bottom + depth + 1, left - depth : right + depth + 1]
    mask = np.ones(outer.shape[:2], bool)
    mask[depth:-depth, depth:-depth] = False
    return outer[mask]


def is_red(pixels: np.ndarray) -> np.ndarray:
    return (pixels[..., 0] > 200) & (pixels[..., 1] < 40) & (pixels[..., 2] < 40)


def is_white(pixels: np.ndarray) -> np.ndarray:
    """Anti-aliased small text rarely reaches 255 exactly."""
    return (pixels > 220).all(axis=-1)


BACKGROUND = (24, 24, 24)
TITLE = "天蝎座之夜"


@pytest.fixture(scope="module", autouse=True)
def cjk_font():
    """Every machine and deployment has fonts-wqy-microhei (scripts/bootstrap installs it); a
    sheet test that skipped without it would hide exactly the bug it is here to catch."""
    try:
        return find_cjk_font()
    except FontError as exc:
        pytest.fail(f"contact sheets need a CJK font: {exc}")


def header(image: Image.Image, untitled: Image.Image) -> np.ndarray:
    """The band a header adds above the grid."""
    return as_array(image)[: image.height - untitled.height]


def ink_columns(band: np.ndarray) -> np.ndarray:
    """x of every column where something other than the background is drawn."""
    return np.nonzero((band != BACKGROUND).any(axis=-1).any(axis=0))[0]


def test_grid_follows_columns_and_keeps_aspect():
    six = contact_sheet(flat_frames(6), columns=4, tile_width=TILE)
    assert six.size == contact_sheet(flat_frames(8), columns=4, tile_width=TILE).size
    four = contact_sheet(flat_frames(4), columns=4, tile_width=TILE)
    assert four.width == six.width and four.height < six.height
    assert contact_sheet(flat_frames(6), columns=2, tile_width=TILE).width < six.width
    sheet = as_array(six)
    boxes = [tile_box(sheet, PALETTE[i]) for i in range(6)]
    for left, top, right, bottom in boxes:
        assert (right - left + 1, bottom - top + 1) == (TILE, TILE * H // W)
    lefts, tops = [b[0] for b in boxes], [b[1] for b in boxes]
    assert len(set(tops[:4])) == 1 and len(set(tops[4:])) == 1 and tops[4] > tops[0]
    assert lefts[:4] == sorted(lefts[:4]) and lefts[4:] == lefts[:2]  # row 2 starts a new row


def test_portrait_frames_keep_their_aspect():
    frames = [Frame(index=0, time_s=0.0, image=flat(PALETTE[0], height=W, width=H))]
    left, top, right, bottom = tile_box(
        as_array(contact_sheet(frames, tile_width=TILE)), PALETTE[0]
    )
    assert (right - left + 1, bottom - top + 1) == (TILE, round(TILE * W / H))


def test_flagged_tile_has_a_red_border_and_its_label():
    frames = flat_frames(6)
    plain = as_array(contact_sheet(frames, tile_width=TILE))
    sheet = as_array(contact_sheet(frames, flagged={6: "nudity 0.91"}, tile_width=TILE))
    for i in range(6):
        border = ring(sheet, tile_box(sheet, PALETTE[i]))
        assert is_red(border).all() if i == 2 else not is_red(border).any(), i
    # The label is drawn on the flagged tile (top-left), and only there.
    left, top, right, bottom = tile_box(plain, PALETTE[2])
    corner = (slice(top, top + 30), slice(left, left + TILE // 2))
    assert is_red(sheet[corner]).any() and not is_red(plain[corner]).any()
    assert is_white(sheet[corner]).sum() > 20  # white text on the red box
    ys, xs = np.nonzero((sheet != plain).any(axis=-1))  # nothing else changed
    assert top - 8 <= ys.min() and ys.max() <= bottom + 8
    assert left - 8 <= xs.min() and xs.max() <= right + 8


def test_flag_for_a_frame_not_on_the_sheet_is_refused():
    with pytest.raises(ValueError, match=r"\[5\]"):
        contact_sheet(flat_frames(3), flagged={5: "gore 0.8"})
    with pytest.raises(ValueError, match="at least one frame"):
        contact_sheet([])
    with pytest.raises(ValueError, match="columns"):
        contact_sheet(flat_frames(2), columns=0)


def test_timestamps_are_drawn_bottom_left():
    colour = PALETTE[0]

    def sheet_at(index: int, time_s: float) -> np.ndarray:
        frame = Frame(index=index, time_s=time_s, image=flat(colour))
        return as_array(contact_sheet([frame], tile_width=TILE))

    one, later = sheet_at(16, 1.0), sheet_at(1045, 65.3)
    left, top, right, bottom = tile_box(one, colour)
    assert (right - left + 1, bottom - top + 1) == (TILE, TILE * H // W)
    corner = (slice(bottom - 25, bottom + 1), slice(left, left + TILE // 2))
    for sheet in (one, later):
        label = sheet[corner]
        assert is_white(label).sum() > 20  # white text
        assert (label == 0).all(axis=-1).sum() > 20  # on a black box
        # Away from the label the tile is untouched.
        assert (sheet[top : top + (bottom - top) // 2, left : right + 1] == colour).all()
    assert not np.array_equal(one[corner], later[corner])  # 00:01.0 vs 01:05.3
    # The frame index is not part of the label: only the time is.
    assert np.array_equal(sheet_at(16, 1.0), sheet_at(1_000_016, 1.0))


def test_tile_label_text():
    assert tile_label(TileLabel(2, 3.0)) == "shot 2 · 00:03.0"
    assert tile_label(TileLabel(None, 65.3)) == "01:05.3"
    assert tile_label(TileLabel(12, 59.96)) == "shot 12 · 01:00.0"  # rounded once, not 00:60.0


def clip(shot: int, frames: int, fps: int) -> Clip:
    return Clip(
        shot=shot,
        key=f"clips/{shot}.mp4",
        last_frame_key=f"clips/{shot}.png",
        hash=f"h{shot}",
        model="wan2.2-ti2v-5b",
        device="cpu",
        plan="test",
        width=W,
        height=H,
        frames=frames,
        fps=fps,
        cached=True,
        load_s=0.0,
        step_s=0.0,
        render_s=0.0,
    )


def test_a_frame_of_shot_2_is_labelled_with_its_time_in_the_item():
    # Shot 1 is 2.0 s (32 frames at 16 fps), shot 3 comes after shot 2 whatever the order given.
    clips = [clip(3, 48, 24), clip(1, 32, 16), clip(2, 16, 16)]
    starts = shot_starts(clips)
    assert starts == {1: 0.0, 2: 2.0, 3: 3.0}
    frame = Frame(index=16, time_s=1.0, image=flat(PALETTE[0]))  # 1 s into shot 2
    label = TileLabel(2, starts[2] + frame.time_s)
    assert tile_label(label) == "shot 2 · 00:03.0"

    def drawn(*labels: TileLabel) -> np.ndarray:
        return as_array(contact_sheet([frame], labels=list(labels), tile_width=TILE))

    sheet = drawn(label)
    left, _, right, bottom = tile_box(sheet, PALETTE[0])
    corner = (slice(bottom - 25, bottom + 1), slice(left, right + 1))
    assert is_white(sheet[corner]).sum() > 20 and (sheet[corner] == 0).all(axis=-1).sum() > 20
    # Drawn as given: another shot or another time reads differently, and the clip's own time
    # (what the sheet drew before) is not what is drawn.
    for other in (TileLabel(1, 3.0), TileLabel(2, 1.0), TileLabel(None, 1.0)):
        assert not np.array_equal(sheet[corner], drawn(other)[corner]), other

    def box_width(image: np.ndarray) -> int:
        return len(np.nonzero((image[corner] == 0).all(axis=-1).any(axis=0))[0])

    assert box_width(sheet) > box_width(drawn(TileLabel(None, 3.0)))  # "shot 2 · " is drawn too
    assert np.array_equal(sheet, drawn((2, 3.0)))  # a plain (shot, seconds) pair is a label
    with pytest.raises(ValueError, match="one label per frame"):
        contact_sheet([frame, frame], labels=[label])


def test_chinese_title_is_drawn_in_real_glyphs():
    frames = flat_frames(3)
    untitled = contact_sheet(frames, tile_width=TILE)
    chinese = contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title=TITLE)
    assert chinese.width == untitled.width and chinese.height > untitled.height
    band = header(chinese, untitled)
    assert is_white(band).sum() > 100
    # Not the "?????" a Latin-only font falls back to.
    marks = contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title="?????")
    assert not np.array_equal(band, header(marks, untitled))
    # Each character alone: five different pictures, none of them empty. "?" or a tofu box for
    # every character would make them all the same.
    glyphs = []
    for ch in TITLE:
        alone = header(contact_sheet(frames, tile_width=TILE, title=ch), untitled)
        assert alone.shape == band.shape  # one header height whatever the title
        assert (alone != BACKGROUND).any(axis=-1).sum() > 20, ch  # something is drawn
        glyphs.append(alone.tobytes())
    assert len(set(glyphs)) == len(TITLE)
    # The item id heads the sheet: two items with one title are told apart.
    other = contact_sheet(frames, tile_width=TILE, item_id="leo-rise", title=TITLE)
    assert not np.array_equal(band, header(other, untitled))


def test_without_a_cjk_font_the_title_falls_back_visibly_and_says_so(monkeypatch, caplog):
    def no_font(font_dir=None):
        raise FontError("no font with Chinese glyphs (test)")

    monkeypatch.setattr(sheet_module, "find_cjk_font", no_font)
    sheet_module._cjk_font.cache_clear()
    try:
        frames = flat_frames(2)
        with caplog.at_level(logging.WARNING, logger="moderation.sheet"):
            chinese = contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title=TITLE)
        said = caplog.text
        assert "no CJK font" in said and "天" in said and "U+5929" in said
        # Question marks, as the warning says, not blank boxes; the Latin item id is still there.
        marks = contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title="?????")
        assert chinese.tobytes() == marks.tobytes()
        assert is_white(header(chinese, contact_sheet(frames, tile_width=TILE))).sum() > 50
    finally:
        sheet_module._cjk_font.cache_clear()


def test_a_character_the_font_lacks_is_named_in_a_warning(caplog):
    frames = flat_frames(2)
    with caplog.at_level(logging.WARNING, logger="moderation.sheet"):
        contact_sheet(frames, tile_width=TILE, title=f"{TITLE} \U0010fffd")
    assert "U+10FFFD" in caplog.text and "U+5929" not in caplog.text


def test_long_titles_and_labels_are_cut_with_an_ellipsis_inside_the_sheet():
    frames = flat_frames(1)
    untitled = contact_sheet(frames, tile_width=TILE)
    for long in (TITLE * 20, "an extremely long English title " * 8):
        sheet = contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title=long)
        assert sheet.width == untitled.width
        inked = ink_columns(header(sheet, untitled))
        # Filled nearly to the right margin, and never into it.
        assert sheet.width - 8 - TILE // 6 <= inked.max() < sheet.width - 8, long[:10]
        # Exactly a shorter title with "…" at its end: the cut is marked.
        cuts = (
            contact_sheet(frames, tile_width=TILE, item_id="orion-hunt", title=long[:n] + "…")
            for n in range(1, 40)
        )
        assert any(cut.tobytes() == sheet.tobytes() for cut in cuts), long[:10]
    # A long flag label stays on its tile.
    plain = as_array(contact_sheet(frames, tile_width=TILE))
    flagged = as_array(contact_sheet(frames, tile_width=TILE, flagged={0: "violence " * 30}))
    left, _, right, _ = tile_box(plain, PALETTE[0])
    border = TILE // 40
    _, xs = np.nonzero((flagged != plain).any(axis=-1))
    assert left - border <= xs.min() and xs.max() <= right + border


def test_sheet_is_deterministic():
    frames = flat_frames(5)
    kwargs = {
        "flagged": {3: "weapons 0.7"},
        "labels": [TileLabel(2, 4.0 + i / 4) for i in range(5)],
        "item_id": "job-42",
        "title": TITLE,
        "tile_width": TILE,
    }
    assert contact_sheet(frames, **kwargs).tobytes() == contact_sheet(frames, **kwargs).tobytes()


def checkerboard(cell: int = 8) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    on = ((y // cell + x // cell) % 2).astype(np.uint8)
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 1] = on * 220
    return image


def test_thumbnail_picks_the_most_detailed_frame_and_keeps_aspect():
    sharp = checkerboard()
    blurred = np.asarray(Image.fromarray(sharp).resize((8, 6)).resize((W, H), Image.BILINEAR))
    gradient = np.repeat(np.linspace(0, 255, W, dtype=np.uint8)[None, :, None], H, 0).repeat(3, 2)
    for order in ([0, 1, 2, 3], [2, 3, 1, 0], [3, 2, 0, 1]):
        images = [flat((90, 90, 90)), gradient, blurred, sharp]
        frames = [Frame(index=i, time_s=i / 16, image=images[k]) for i, k in enumerate(order)]
        thumb = thumbnail(frames, width=640)
        assert thumb.size == (640, 480)
        back = np.asarray(thumb.resize((W, H), Image.BOX)).astype(int)
        assert np.abs(back - sharp).mean() < np.abs(back - blurred).mean() / 4, order
    # Ties (two flat frames, no detail at all) go to the earlier frame.
    frames = [Frame(0, 0.0, flat(PALETTE[1])), Frame(1, 0.1, flat(PALETTE[0]))]
    assert np.asarray(thumbnail(frames, width=32))[5, 5].tolist() == list(PALETTE[1])
    wide = [Frame(0, 0.0, flat(PALETTE[0], height=32, width=96))]
    assert thumbnail(wide, width=300).size == (300, 100)
    with pytest.raises(ValueError, match="at least one frame"):
        thumbnail([])


def test_save_jpeg_is_atomic_and_reopens(tmp_path):
    sheet = contact_sheet(flat_frames(6), tile_width=TILE, title="job 7")
    path = tmp_path / "sheet.jpg"
    assert save_jpeg(sheet, path) == path
    with Image.open(path) as reopened:
        assert reopened.format == "JPEG" and reopened.size == sheet.size
        error = np.abs(np.asarray(reopened.convert("RGB")).astype(int) - as_array(sheet)).mean()
    assert error < 4
    save_jpeg(flat(PALETTE[3]), path, quality=50)  # arrays too; replaces the old file
    with Image.open(path) as reopened:
        assert reopened.size == (W, H)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.jpg"]  # no temp file left
    with pytest.raises(ValueError, match="quality"):
        save_jpeg(sheet, tmp_path / "bad.jpg", quality=0)
    with pytest.raises(OSError):
        save_jpeg(sheet, tmp_path / "no-such-dir" / "x.jpg")
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.jpg"]
