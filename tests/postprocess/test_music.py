"""The background-music library: index parsing, its refusals, the choice of a track, and the
library shipped with Wanflow (its files, and its place when a bucket keeps none)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from generation.vocabulary import default_vocabulary
from postprocess.loudness import measure, samples
from postprocess.music import (
    INDEX_KEY,
    SHIPPED_DIR,
    Library,
    MusicError,
    Track,
    mood_key,
    shipped,
)

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


def test_a_bgm_naming_a_mood_picks_among_its_tracks(library):
    assert {library.choose("平静", [], seed).id for seed in range(40)} == {"river-dawn", "lullaby"}
    assert {library.choose("Sleepy", ["紧张"], seed).id for seed in range(10)} == {"lullaby"}
    calm = Track(id="calm", file="calm.ogg", title="Calm", licence="CC0-1.0")
    named = Library(tracks=(*library.tracks, calm))
    assert {named.choose("calm", [], seed).id for seed in range(10)} == {"calm"}  # a name wins


# The library shipped with Wanflow: files, index, licence, loudness, and the choice from a bucket.

SHIPPED_RATE = 48_000


@pytest.fixture(scope="module")
def shipped_tracks():
    return shipped().tracks


def test_the_shipped_index_is_what_the_synthesiser_writes(shipped_tracks):
    from postprocess import synth

    assert len(shipped_tracks) >= 4
    assert [
        (t.id, t.file, t.title, t.moods, t.licence, t.duration_s, t.bpm) for t in shipped_tracks
    ] == [
        (p.id, p.file, p.title, p.moods, synth.LICENCE, p.duration_s, p.bpm) for p in synth.PIECES
    ]
    for track in shipped_tracks:
        assert "Apache-2.0" in track.licence and "Wanflow" in track.licence
        assert 20 <= track.duration_s <= 40


def test_every_shipped_file_is_listed_and_packaged():
    import fnmatch
    import tomllib

    listed = {track.file for track in shipped().tracks} | {"index.toml"}
    assert {path.name for path in SHIPPED_DIR.iterdir()} == listed
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["postprocess"]
    for name in listed:
        assert any(fnmatch.fnmatch(f"data/bgm/{name}", p) for p in patterns), name


def test_every_shipped_track_decodes_to_its_length_at_a_sane_level(shipped_tracks):
    total = 0
    for track in shipped_tracks:
        path = SHIPPED_DIR / track.file
        total += path.stat().st_size
        assert path.stat().st_size < 256 * 1024, track.file
        audio, rate = samples(path)
        assert (audio.shape[0], rate) == (2, SHIPPED_RATE), track.file
        assert audio.shape[1] == round(track.duration_s * SHIPPED_RATE), track.file
        level = measure(path)
        assert abs(level.integrated_lufs - track.loudness_lufs) <= 0.5, track.file
        assert -21 <= level.integrated_lufs <= -15, track.file
        assert level.true_peak_db <= -3.0 and level.lra_lu <= 4, (track.file, level)
    assert total < 1.5 * 1024 * 1024


def test_shipped_tracks_loop_without_a_seam(shipped_tracks, tmp_path):
    # The mixer loops a track with -stream_loop; a codec whose pre-roll is skipped only on the
    # first pass (Opus) would come back longer and broken at the seam.
    import ffmpeg

    from postprocess.runner import path_arg, run

    for track in shipped_tracks:
        path, twice = SHIPPED_DIR / track.file, tmp_path / f"{track.id}.wav"
        looped = ffmpeg.input(path_arg(path), stream_loop=1).output(path_arg(twice))
        run(looped.overwrite_output(), "loop twice")
        once, _ = samples(path)
        again, _ = samples(twice)
        frames = once.shape[1]
        assert again.shape[1] == 2 * frames, track.file
        assert np.max(np.abs(again[:, frames:] - once)) < 1e-3, track.file


@pytest.mark.parametrize("term", default_vocabulary().terms("emotion"), ids=lambda term: term.id)
def test_every_emotion_of_the_vocabulary_has_shipped_music(term):
    for spelling in (term.zh, term.en, *term.aliases):
        for seed in range(5):
            track = shipped().choose(None, [spelling], seed)
            assert track.has_mood({mood_key(spelling)}), (spelling, track.id)


def test_a_bucket_without_a_library_plays_the_shipped_one(storage, tmp_path):
    from tasks.compose import music_for

    picks = {music_for(storage, None, ["平静"], seed, tmp_path) for seed in range(5)}
    assert picks == {(shipped().get("still-water"), SHIPPED_DIR / "still-water.ogg")}
    track, path = music_for(storage, None, ["紧张", "猎户座"], 3, tmp_path)
    assert track.id == "undertow" and path.is_file()
    assert music_for(storage, "Stone Hall 石殿", [], 1, tmp_path)[0].id == "stone-hall"
    assert music_for(storage, "无", ["平静"], 1, tmp_path) == (None, None)
    track, _ = music_for(storage, None, ["猎户座"], 1, tmp_path)  # no mood: any shipped track
    assert track in shipped().tracks
    with pytest.raises(MusicError, match=r"unknown background music 'nocturne'.*still-water"):
        music_for(storage, "nocturne", [], 1, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing fetched: the files ship with Wanflow


def test_an_operator_library_replaces_the_shipped_one(storage, tmp_path):
    from tasks.compose import music_for

    storage.put_bytes("config/bgm/calm/nocturne.wav", b"RIFF-not-really")
    index = (
        '[[track]]\nid = "nocturne"\nfile = "calm/nocturne.wav"\ntitle = "夜曲"\n'
        'moods = ["romantic"]\nlicence = "CC0-1.0"\n'
    )
    storage.put_bytes(INDEX_KEY, index.encode())
    for moods in (["平静"], ["紧张"], []):  # shipped tracks have these moods; it has none
        track, path = music_for(storage, None, moods, 7, tmp_path / "a")
        assert (track.id, track.licence) == ("nocturne", "CC0-1.0")
        assert path == tmp_path / "a" / "nocturne.wav" and path.read_bytes() == b"RIFF-not-really"
    with pytest.raises(MusicError, match=r"unknown background music 'still-water'.*nocturne"):
        music_for(storage, "still-water", [], 1, tmp_path / "b")
    storage.put_bytes(INDEX_KEY, b"")  # an empty index: the operator wants no music
    assert music_for(storage, None, ["平静"], 1, tmp_path / "c") == (None, None)
