"""The background-music library: which tracks the bucket holds, under what licence, for which
moods, and the choice of one for an item.

The library lives in the bucket under ``config/bgm/``: the audio files and one index,
``config/bgm/index.toml``, with a ``[[track]]`` table per track::

    [[track]]
    id = "river-dawn"              # letters (any script), digits, "_", "-", "."; unique
    file = "calm/river_dawn.mp3"   # relative to config/bgm/; sub-folders allowed
    title = "River at Dawn"        # unique; an item's bgm field may name it instead of the id
    moods = ["calm", "舒缓"]       # any tags, zh or en; well-known ones match across languages
    licence = "CC BY 4.0, Jane Doe, https://example.org/river"   # required ("license" also read)
    loudness_lufs = -18.5          # optional: integrated loudness, for the record
    bpm = 72                       # optional
    duration_s = 31.5              # optional: seconds, for the record

A track without a licence is refused: we publish what we mix. Every problem names the index,
the track (position and id) and the field.

Choice (:meth:`Library.choose`): an item's ``bgm`` naming a track id or title wins, and one
naming a mood picks among the tracks that have it (anything else is an error listing the ids);
``none``/``无``/``无音乐`` means no music; otherwise a track sharing a mood with the item, else
any track, picked by the item's seed (the same seed picks the same track in any process);
``None`` when the library is empty.

A bucket without ``config/bgm/index.toml`` plays Wanflow's own library (:func:`shipped`, in
``postprocess/data/bgm/``): tracks the project synthesised itself (:mod:`postprocess.synth`),
under the project's licence, so a video has music with nothing to download or clear. An
operator's index, even an empty one, replaces it entirely.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
import unicodedata
from pathlib import Path
from typing import Annotated

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from wanflow.keys import check_part

BGM_PREFIX = "config/bgm/"
INDEX_KEY = "config/bgm/index.toml"
SHIPPED_DIR = Path(__file__).parent / "data" / "bgm"
NO_MUSIC = ("none", "无", "无音乐")

# Spellings that mean the same mood, first the name it is known by. Tags not listed here
# match only themselves (ignoring case, width, spaces, "_" and "-").
MOOD_SYNONYMS = (
    ("calm", "peaceful", "serene", "relaxing", "gentle", "舒缓", "平静", "宁静", "轻柔", "安静"),
    ("happy", "joyful", "cheerful", "upbeat", "欢快", "快乐", "高兴", "开心", "喜悦", "轻快"),
    ("sad", "sorrowful", "melancholy", "悲伤", "忧伤", "难过", "伤感"),
    ("epic", "grand", "heroic", "majestic", "史诗", "宏大", "壮丽", "激昂"),
    ("mysterious", "mystery", "神秘", "神秘感"),
    ("tense", "suspense", "suspenseful", "紧张", "紧迫", "悬疑"),
    ("romantic", "浪漫", "唯美"),
    ("solemn", "庄严", "肃穆"),
    (
        "dark",
        "fearful",
        "afraid",
        "scared",
        "scary",
        "horror",
        "黑暗",
        "恐惧",
        "恐怖",
        "惊恐",
        "害怕",
    ),
    ("inspiring", "uplifting", "hopeful", "励志", "振奋", "希望"),
    ("nostalgic", "怀旧"),
    ("playful", "funny", "cute", "俏皮", "搞笑", "可爱"),
    ("angry", "furious", "愤怒", "生气"),
    ("surprised", "astonished", "惊讶", "吃惊"),
)


class MusicError(ValueError):
    """A bad index, or an item asking for music the library does not have."""


def mood_key(tag: str) -> str:
    """The form moods are compared in: synonyms share one (``舒缓`` → ``calm``)."""
    key = _key(tag)
    return _MOODS.get(key, key)


def _key(text: str) -> str:
    """Case, width, spaces, ``_`` and ``-`` do not distinguish names."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text).casefold())


_NO_MUSIC_KEYS = frozenset(_key(word) for word in NO_MUSIC)
_MOODS = {_key(spelling): group[0] for group in MOOD_SYNONYMS for spelling in group}
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Track(BaseModel):
    """One entry of the index; see the module doc for the fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^\w[\w.-]*$", max_length=64)]
    file: str
    title: _Text
    moods: tuple[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)], ...] = ()
    licence: _Text = Field(validation_alias=AliasChoices("licence", "license"))
    loudness_lufs: float | None = Field(None, ge=-70, le=0)
    bpm: float | None = Field(None, gt=0, le=400)
    duration_s: float | None = Field(None, gt=0)

    @field_validator("file")
    @classmethod
    def _relative_file(cls, value: str) -> str:
        # The key is built from it: nothing may climb out of config/bgm/ or be absolute.
        if not value or value.startswith("/"):
            raise ValueError(f"must be a path relative to {BGM_PREFIX}, not {value!r}")
        for part in value.split("/"):
            check_part(part, "file path segment")
        return value

    @field_validator("moods", mode="before")
    @classmethod
    def _one_mood(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("id", "title")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if _key(value) in _NO_MUSIC_KEYS:
            raise ValueError(f"{value!r} is reserved: an item's bgm {value!r} means no music")
        return value

    @property
    def key(self) -> str:
        """The audio file's object key in the bucket."""
        return BGM_PREFIX + self.file

    def has_mood(self, moods: set[str]) -> bool:
        """Whether any of the track's tags is among ``moods`` (already :func:`mood_key` form)."""
        return any(mood_key(tag) in moods for tag in self.moods)


class Library(BaseModel):
    """The tracks of an index, in index order; ids and titles are unique."""

    model_config = ConfigDict(frozen=True)

    tracks: tuple[Track, ...] = ()

    @classmethod
    def parse(cls, text: str, source_name: str = INDEX_KEY) -> Library:
        """Read index TOML; :class:`MusicError` names ``source_name``, the track and the field."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MusicError(f"{source_name}: not valid TOML: {exc}") from None
        unknown = sorted(set(data) - {"track"})
        if unknown:
            raise MusicError(
                f"{source_name}: unknown key(s) {', '.join(unknown)}; the index holds only "
                "[[track]] tables"
            )
        entries = data.get("track", [])
        if not isinstance(entries, list):
            raise MusicError(f"{source_name}: write each track as a [[track]] table")
        tracks: list[Track] = []
        seen: dict[str, str] = {}
        for number, entry in enumerate(entries, start=1):
            where = f"{source_name}: track {number}"
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                where += f" ({entry['id']!r})"
            try:
                track = Track.model_validate(entry)
            except ValidationError as exc:
                raise MusicError(f"{where}: {_problems(exc)}") from None
            names = {"id": track.id, "title": track.title}
            for what, name in names.items():
                clash = seen.get(_key(name))
                if clash is not None:
                    raise MusicError(f"{where}: {what} {name!r} is already used by {clash}")
            for what, name in names.items():  # a title may repeat its own track's id
                seen.setdefault(_key(name), f"track {number} ({track.id!r}) as its {what}")
            tracks.append(track)
        return cls(tracks=tuple(tracks))

    @classmethod
    def read(cls, path: Path) -> Library:
        return cls.parse(Path(path).read_text("utf-8"), str(path))

    def get(self, name: str) -> Track:
        """The track with this id or title (case and spacing ignored; no id is another's title)."""
        track = self._named(name)
        if track is not None:
            return track
        available = ", ".join(track.id for track in self.tracks) or "none: the library is empty"
        raise MusicError(
            f"unknown background music {name!r}; name a track id or title (ids: {available}), "
            f"or write {' / '.join(NO_MUSIC)} for no music"
        )

    def _named(self, name: str) -> Track | None:
        wanted = _key(name)
        return next((t for t in self.tracks if wanted in (_key(t.id), _key(t.title))), None)

    def choose(self, item_bgm: str | None, moods: list[str], seed: int) -> Track | None:
        """The item's music (see the module doc); ``moods`` may mix zh and en tags."""
        if item_bgm is not None and item_bgm.strip():
            if _key(item_bgm) in _NO_MUSIC_KEYS:
                return None
            in_mood = [track for track in self.tracks if track.has_mood({mood_key(item_bgm)})]
            if in_mood and self._named(item_bgm) is None:
                return _pick(in_mood, seed)
            return self.get(item_bgm)
        if not self.tracks:
            return None
        wanted = {mood_key(mood) for mood in moods if mood.strip()}
        in_mood = [track for track in self.tracks if track.has_mood(wanted)]
        return _pick(in_mood or self.tracks, seed)


@functools.cache
def shipped() -> Library:
    """Wanflow's own library; a track's file is ``SHIPPED_DIR / track.file``."""
    return Library.read(SHIPPED_DIR / "index.toml")


def _pick(candidates: list[Track] | tuple[Track, ...], seed: int) -> Track:
    # Ordered by id, so that reordering the index changes no item's music.
    ordered = sorted(candidates, key=lambda track: track.id)
    digest = hashlib.sha256(f"bgm\x00{seed}".encode()).digest()
    return ordered[int.from_bytes(digest[:8], "big") % len(ordered)]


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or "(track)"
        if field == "licence" and error["type"] in ("missing", "string_too_short"):
            message = (
                "licence is required: say under which licence the track may be used "
                '(e.g. "CC0-1.0", "CC BY 4.0, Artist, URL", "bought from X, licence no. Y")'
            )
        elif error["type"] == "missing":
            message = f"{field}: required"
        elif error["type"] == "extra_forbidden":
            message = f"{field}: unknown field (fields: {', '.join(Track.model_fields)})"
        else:
            text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            message = f"{field}: {text}"
            if error["type"] != "value_error" and "input" in error:
                message += f" (got {error['input']!r})"
        problems.append(message)
    return "; ".join(problems)
