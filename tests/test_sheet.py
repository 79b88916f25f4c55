"""moderation.sheet: grids that keep their layout, flags that show, labels that are drawn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from moderation.sheet import contact_sheet, save_jpeg, thumbnail
from moderation.signals import Frame

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
    assert not np.array_equal(one[corner], later[corner])  # 00:01.0 #16 vs 01:05.3 #1045


def test_chinese_title_is_drawn_with_question_marks_and_does_not_raise():
    frames = flat_frames(3)
    untitled = contact_sheet(frames, tile_width=TILE)
    chinese = contact_sheet(frames, tile_width=TILE, title="审核 clip-12：海边 😀")
    assert chinese.width == untitled.width and chinese.height > untitled.height
    # The documented fallback, not tofu boxes; the full-width colon folds to ":".
    same = contact_sheet(frames, tile_width=TILE, title="?? clip-12:?? ?")
    assert chinese.tobytes() == same.tobytes()
    title_bar = as_array(chinese)[: chinese.height - untitled.height]
    assert is_white(title_bar).sum() > 50  # "clip-12" and the ? marks are drawn
    accented = contact_sheet(frames, tile_width=TILE, title="café")
    assert accented.tobytes() == contact_sheet(frames, tile_width=TILE, title="cafe").tobytes()


def test_sheet_is_deterministic():
    frames = flat_frames(5)
    kwargs = {"flagged": {3: "weapons 0.7"}, "title": "job 42", "tile_width": TILE}
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
