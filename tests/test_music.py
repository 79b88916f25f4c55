"""The background-music library: index parsing, its refusals, and the choice of a track."""

from __future__ import annotations

import re

import pytest

from postprocess.music import INDEX_KEY, Library, MusicError, mood_key

INDEX = """
[[track]]
id = "river-dawn"
file = "calm/river_dawn.mp3"
title = "River at Dawn"
moods = ["calm", "舒缓"]
licence = "CC BY 4.0, Jane Doe, https://example.org/river"
loudness_lufs = -18.5
bpm = 72

[[track]]
id = "storm"
file = "storm.ogg"
title = "风暴将至"
moods = "史诗"
license = "CC0-1.0"

[[track]]
id = "lullaby"
file = "lullaby.wav"
title = "Lullaby"
moods = ["Calm", "sleepy"]
licence = "bought from Example Music, licence no. 1234"

[[track]]
id = "chase"
file = "chase.mp3"
title = "The Chase"
moods = ["紧张"]
licence = "CC0-1.0"
"""


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.parse(INDEX, INDEX_KEY)


def test_an_index_reads_into_tracks(library):
    river, storm, *_ = library.tracks
    assert (river.id, river.title, river.moods, river.bpm) == (
        "river-dawn",
        "River at Dawn",
        ("calm", "舒缓"),
        72,
    )
    assert river.loudness_lufs == -18.5
    assert river.key == "config/bgm/calm/river_dawn.mp3"
    assert storm.licence == "CC0-1.0"  # "license" is read too
    assert storm.moods == ("史诗",)  # a single tag may be a string
    assert (storm.loudness_lufs, storm.bpm) == (None, None)
    assert Library.parse("", INDEX_KEY).tracks == ()


def test_the_index_can_be_read_from_a_file(tmp_path):
    path = tmp_path / "index.toml"
    path.write_text(INDEX, "utf-8")
    assert [t.id for t in Library.read(path).tracks] == ["river-dawn", "storm", "lullaby", "chase"]


@pytest.mark.parametrize(
    ("line", "track"),
    [
        ('license = "CC0-1.0"\n', "track 2 ('storm')"),
        ('licence = "CC0-1.0"\n', "track 4 ('chase')"),
    ],
)
def test_a_track_without_a_licence_is_refused_by_name(line, track):
    assert INDEX.count(line) == 1
    with pytest.raises(MusicError, match=rf"config/bgm/index.toml: {re.escape(track)}: licence is"):
        Library.parse(INDEX.replace(line, ""), INDEX_KEY)
    with pytest.raises(MusicError, match=r"track 1 \('x'\): licence is required"):
        Library.parse('[[track]]\nid="x"\nfile="x.mp3"\ntitle="X"\nlicence="  "\n', "i.toml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('id = "storm"', 'id = "River_Dawn"'),
            r"track 2 \('River_Dawn'\): id 'River_Dawn' is "
            r"already used by track 1 \('river-dawn'\) as its id",
        ),
        (
            ('title = "Lullaby"', 'title = "river at dawn"'),
            r"track 3 \('lullaby'\): title "
            r"'river at dawn' is already used by track 1",
        ),
        (
            ('title = "Lullaby"', 'title = "Storm"'),
            r"track 3 \('lullaby'\): title 'Storm' is already used by track 2 \('storm'\) "
            r"as its id",
        ),
        (
            ("bpm = 72", "bpm = -3"),
            r"track 1 \('river-dawn'\): bpm: Input should be greater "
            r"than 0 \(got -3\)",
        ),
        (
            ("bpm = 72", "tempo = 72"),
            r"track 1 \('river-dawn'\): tempo: unknown field \(fields: "
            r"id, file, title, moods, licence",
        ),
        (('file = "storm.ogg"', 'file = "../secret.ogg"'), r"track 2 \('storm'\): file: .*'\.\.'"),
        (
            ('file = "storm.ogg"', 'file = "/abs.ogg"'),
            r"track 2 \('storm'\): file: must be a path relative to "
            r"config/bgm/",
        ),
        (('id = "chase"', 'id = "a b"'), r"track 4 \('a b'\): id: String should match pattern"),
        (('id = "chase"', 'id = "None"'), r"track 4 \('None'\): id: 'None' is reserved"),
        (('title = "The Chase"', 'title = "无"'), r"track 4 \('chase'\): title: '无' is reserved"),
        (
            ('moods = ["紧张"]', "moods = [1]"),
            r"track 4 \('chase'\): moods.0: Input should be a "
            r"valid string",
        ),
    ],
)
def test_bad_entries_are_refused_naming_entry_and_field(change, message):
    old, new = change
    assert old in INDEX
    with pytest.raises(MusicError, match=r"config/bgm/index.toml: " + message):
        Library.parse(INDEX.replace(old, new, 1), INDEX_KEY)


def test_a_missing_field_and_a_broken_index_are_refused():
    with pytest.raises(MusicError, match=r"i.toml: track 1 \('x'\): file: required; title: "):
        Library.parse('[[track]]\nid = "x"\nlicence = "CC0"\n', "i.toml")
    with pytest.raises(MusicError, match=r"i.toml: not valid TOML"):
        Library.parse("[[track]\n", "i.toml")
    with pytest.raises(MusicError, match=r"unknown key\(s\) tracks; the index holds only"):
        Library.parse('[[tracks]]\nid = "x"\n', "i.toml")
    with pytest.raises(MusicError, match=r"write each track as a \[\[track\]\] table"):
        Library.parse('track = "x"\n', "i.toml")


def test_an_item_naming_a_track_by_id_or_title_gets_it(library):
    assert library.choose("storm", ["calm"], 1).id == "storm"
    assert library.choose("River-Dawn", [], 1).id == "river-dawn"  # case and "_"/"-" ignored
    assert library.choose("the chase", [], 1).id == "chase"
    assert library.choose(" 风暴将至 ", [], 1).id == "storm"


@pytest.mark.parametrize("word", ["none", "None", " NONE ", "无", "无音乐"])
def test_none_means_no_music(library, word):
    assert library.choose(word, ["calm"], 1) is None


def test_an_unknown_name_is_an_error_listing_the_ids(library):
    with pytest.raises(
        MusicError,
        match=r"unknown background music 'jazz'; name a track id or title \(ids: river-dawn, "
        r"storm, lullaby, chase\), or write none / 无 / 无音乐",
    ):
        library.choose("jazz", ["calm"], 1)
    with pytest.raises(MusicError, match=r"ids: none: the library is empty"):
        Library().choose("jazz", [], 1)


def test_moods_choose_among_matching_tracks_in_either_language(library):
    assert mood_key("舒缓") == mood_key("Calm") == mood_key("peaceful") == "calm"
    assert mood_key("Sleepy") == "sleepy"  # unknown tags match only themselves
    calm = {library.choose(None, ["舒缓"], seed).id for seed in range(40)}
    assert calm == {"river-dawn", "lullaby"}
    assert {library.choose(None, ["epic"], seed).id for seed in range(10)} == {"storm"}
    assert {library.choose("", ["tense", "宏大"], s).id for s in range(40)} == {"storm", "chase"}
    assert {library.choose(None, ["SLEEPY"], seed).id for seed in range(10)} == {"lullaby"}


def test_without_a_matching_mood_any_track_may_play(library):
    picked = {library.choose(None, ["jazzy"], seed).id for seed in range(60)}
    assert picked == {"river-dawn", "storm", "lullaby", "chase"}
    assert {library.choose(None, [], seed).id for seed in range(60)} == picked


def test_the_choice_depends_only_on_the_seed(library):
    first = [library.choose(None, ["calm"], seed).id for seed in range(20)]
    assert first == [library.choose(None, ["calm"], seed).id for seed in range(20)]
    reordered = Library(tracks=tuple(reversed(library.tracks)))
    assert first == [reordered.choose(None, ["calm"], seed).id for seed in range(20)]


def test_an_empty_library_gives_no_music():
    assert Library().choose(None, ["calm"], 3) is None
    assert Library().choose("无", [], 3) is None
