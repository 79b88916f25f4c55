"""The catalogue's row check remembers its answers by the values it reads: an answer given for
one row must never stand in for another row that differs in anything the check looks at."""

from __future__ import annotations

from generation.catalogue import build_catalogue
from wanflow.manifest import Item
from wanflow.settings import Settings


def fresh(catalogue, item: Item) -> list[tuple[str, str]]:
    return catalogue.vocabulary.check_item(item) + catalogue.presets.check_item(item)


def test_a_bad_value_after_many_good_rows_still_gets_its_error():
    catalogue = build_catalogue(Settings())
    good = Item(id="a", prompt="p", style="油画", camera="推进", preset="t2v-a14b")
    for i in range(500):
        assert catalogue.check_item(good.model_copy(update={"id": f"a{i}"})) == []
    bad_style = good.model_copy(update={"style": "赛璐璐风"})
    assert catalogue.check_item(bad_style) == fresh(catalogue, bad_style)
    assert [field for field, _ in catalogue.check_item(bad_style)] == ["style"]
    # The same preset is wrong once the row has an image: the image is part of the answer.
    with_image = good.model_copy(update={"image": "shots/a.png"})
    assert [field for field, _ in catalogue.check_item(with_image)] == ["preset"]
    # A modifier that contradicts the camera move: the second control is read too.
    clash = Item(id="b", prompt="p", camera="缓慢推进")
    assert catalogue.check_item(clash) == []
    clash = clash.model_copy(update={"camera_speed": "快速"})
    assert [field for field, _ in catalogue.check_item(clash)] == ["camera"]
    assert catalogue.check_item(clash) == fresh(catalogue, clash)


def test_answers_are_copies_and_the_memory_is_bounded(monkeypatch):
    import generation.catalogue as module

    monkeypatch.setattr(module, "_CHECKS_KEPT", 3)
    catalogue = build_catalogue(Settings())
    bad = Item(id="a", prompt="p", style="赛璐璐风")
    catalogue.check_item(bad).append(("style", "changed by the caller"))
    assert catalogue.check_item(bad) == fresh(catalogue, bad)
    for i in range(10):  # ten distinct unknown styles: each answered, three remembered
        item = Item(id="a", prompt="p", style=f"风格{i}")
        assert catalogue.check_item(item) == fresh(catalogue, item)
    assert len(catalogue._checked) == 3


def test_an_answer_for_a_row_with_an_image_never_stands_in_for_one_without():
    # Either order: rows without an image are remembered apart from the others.
    catalogue = build_catalogue(Settings())
    good = Item(id="a", prompt="p", style="油画", preset="t2v-a14b")
    with_image = good.model_copy(update={"image": "shots/a.png"})
    for _ in range(2):
        assert [field for field, _ in catalogue.check_item(with_image)] == ["preset"]
        assert catalogue.check_item(good) == []
