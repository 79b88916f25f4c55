"""The manifest item model: one row of a content team's spreadsheet or JSON file.

Values arrive as spreadsheet text ("是", "5秒", "1.2E+05", "a，b、c"), so the validators here
accept what Excel and people write, and reject anything ambiguous with a message naming the value
and what would be accepted. Vocabulary checks (styles, presets, camera moves) belong to the prompt
stage, which knows the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wanflow import keys
from wanflow.headers import canonical_field as canonical_field  # for its importers
from wanflow.keyframes import check_keyframes, parse_images, parse_transitions
from wanflow.limits import strings_problem
from wanflow.voice import parse_rate, parse_voice

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_PROMPT = 2000
MAX_NARRATION = 10_000
MAX_DURATION_S = 600.0
MAX_SEED = 2**63 - 1
_ID = re.compile(ID_PATTERN)

# --- value parsers: spreadsheet text in, typed values out ---------------------------------------
_TRUE = {"true", "yes", "y", "1", "是", "对", "需要", "要", "√", "✓", "✔", "on"}
_FALSE = {"false", "no", "n", "0", "否", "不", "不需要", "不要", "×", "✗", "✘", "off"}


def _parse_bool(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use true/false, yes/no, 是/否, 1/0)")


_DURATION = re.compile(
    r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>s|sec|secs|second|seconds|秒|秒钟)?$", re.IGNORECASE
)
_CLOCK = re.compile(r"^(?P<m>\d{1,2}):(?P<s>\d{2}(?:\.\d+)?)$")


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)  # "5", the common case, without the normalising below
    if value is None or isinstance(value, int | float):  # bool included
        return value  # a number: pydantic's own check (an int too large for a float included)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if match := _DURATION.match(text):
        return float(match["num"])
    if match := _CLOCK.match(text):
        return int(match["m"]) * 60 + float(match["s"])
    raise ValueError(f"{value!r} is not a duration in seconds (e.g. 5, 5.5, 5s, 5秒, 0:05)")


def _parse_seed(value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # "42", the common case, without the normalising below
    if isinstance(value, bool):
        raise ValueError("a seed must be a whole number, not true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "")
    if _WHOLE.fullmatch(text):
        return int(text)
    # Excel writes long numbers as 1.23457E+11 or 12345.0; accept them only when exact.
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


_WHOLE = re.compile(r"[+-]?\d+")
_TAG_SPLIT = re.compile(r"[,，;；|、]")


def _parse_tags(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [tag for tag in map(str.strip, _TAG_SPLIT.split(value)) if tag]
    return value


_LANGUAGE_NAMES = {
    "zh": "zh",
    "cn": "zh",
    "chinese": "zh",
    "中文": "zh",
    "汉语": "zh",
    "普通话": "zh",
    "简体中文": "zh",
    "zh-cn": "zh",
    "zh-hans": "zh",
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
    "en-us": "en",
    "en-gb": "en",
}
_BCP47 = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def _parse_language(value: Any) -> Any:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().lower().replace("_", "-")
    if text in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[text]
    if _BCP47.match(text):
        return text
    raise ValueError(f"{value!r} is not a language (use zh, en, or another BCP-47 code)")


def _check_voice(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(parse_voice(str(value)))


def _parse_rate(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value  # a number: pydantic's own check (an int too large for a float included)
    return parse_rate(value)


def detect_language(text: str) -> str:
    """``zh`` when the text has any CJK ideograph, else ``en``: enough to pick a TTS voice."""
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff":
            return "zh"
    return "en"


def _check_image_key(value: Any) -> Any:
    if value is None:
        return None
    try:
        return keys.check_key(str(value).strip(), "image key")
    except keys.InvalidKeyError as exc:
        raise ValueError(str(exc)) from None


def _parse_images(value: Any) -> Any:
    return parse_images(value, _TAG_SPLIT, _check_image_key)


Text = Annotated[str, Field(max_length=200)]
Bool = Annotated[bool, BeforeValidator(_parse_bool)]


class Limits(BaseModel):
    """Operator limits (settings) tighter than the model's hard caps; passed as context."""

    max_prompt_chars: int = MAX_PROMPT
    max_narration_chars: int = MAX_NARRATION
    max_duration_s: float = MAX_DURATION_S


class Item(BaseModel):
    """One video to make. Field names are the English column names; README lists the aliases."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    title: Text | None = None
    narration: str | None = Field(None, max_length=MAX_NARRATION)
    style: Text | None = None
    style_intensity: Text | None = None
    preset: Text | None = None
    duration: Annotated[float | None, BeforeValidator(_parse_duration)] = Field(
        None, gt=0, le=MAX_DURATION_S, allow_inf_nan=False
    )
    seed: Annotated[int | None, BeforeValidator(_parse_seed)] = Field(None, ge=0, le=MAX_SEED)
    negative_prompt: str | None = Field(None, max_length=MAX_PROMPT)
    image: Annotated[str | None, BeforeValidator(_check_image_key)] = None
    # Before ``images``, whose check counts them.
    transitions: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=MAX_PROMPT)]] | None,
        BeforeValidator(parse_transitions),
    ] = Field(None, description="one prompt per gap between keyframes")
    images: Annotated[list[str] | None, BeforeValidator(_parse_images)] = Field(
        None, description="keyframe keys: the video passes through each, in order"
    )
    language: Annotated[str | None, BeforeValidator(_parse_language)] = None
    voice: Annotated[str | None, BeforeValidator(_check_voice)] = Field(None, max_length=120)
    speech_rate: Annotated[float | None, BeforeValidator(_parse_rate)] = Field(
        None,
        ge=0.5,
        le=2.0,
        allow_inf_nan=False,
        description="narration speed; 1.0 is the voice's own",
    )
    bgm: Text | None = None
    require_approval: Bool = False
    tags: Annotated[list[Annotated[str, Field(max_length=64)]], BeforeValidator(_parse_tags)] = (
        Field(default_factory=list, max_length=32)
    )
    subject: Text | None = None
    scene: Text | None = None
    motion: Text | None = None
    motion_speed: Text | None = None
    motion_intensity: Text | None = None
    emotion: Text | None = None
    camera: Text | None = None
    camera_speed: Text | None = None
    camera_angle: Text | None = None
    light_source: Text | None = None
    light_type: Text | None = None
    time_of_day: Text | None = None
    shot_size: Text | None = None
    composition: Text | None = None
    lens: Text | None = None
    colour_tone: Text | None = None
    orientation: Text | None = None
    transition: Text | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _publishable(cls, value: Any, info: ValidationInfo) -> Any:
        """Text reaches subtitles, metadata and prompts: no control characters, however the
        item was made (``expand --set``, the flow); ingestion has checked every cell already."""
        if info.context and info.context.get("text_checked"):
            return value
        if problem := strings_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id_message(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif isinstance(value, float):
            value = str(int(value)) if value.is_integer() else str(value)
        if isinstance(value, str) and not _ID.match(value.strip()):
            raise ValueError(
                f"{value!r} is not a usable id: use 1–64 ASCII letters, digits, '-' or '_', "
                "starting with a letter or digit (or leave it empty to derive one)"
            )
        return value

    @field_validator("images")
    @classmethod
    def _keyframes(cls, images: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return check_keyframes(images, info.data)

    @model_validator(mode="after")
    def _operator_limits(self, info: ValidationInfo) -> Item:
        if self.transitions is not None and self.images is None:
            raise ValueError(
                "transitions are the prompts between keyframes: give images (two or more) too"
            )
        limits = (info.context or {}).get("limits") if info else None
        if limits is None:
            return self
        if len(self.prompt) > limits.max_prompt_chars:
            raise ValueError(
                f"prompt is {len(self.prompt)} characters; the limit is "
                f"{limits.max_prompt_chars} (WANFLOW_MAX_PROMPT_CHARS)"
            )
        if self.narration and len(self.narration) > limits.max_narration_chars:
            raise ValueError(
                f"narration is {len(self.narration)} characters; the limit is "
                f"{limits.max_narration_chars} (WANFLOW_MAX_NARRATION_CHARS)"
            )
        if self.duration and self.duration > limits.max_duration_s:
            raise ValueError(
                f"duration {self.duration:g} s exceeds the limit of {limits.max_duration_s:g} s "
                "(WANFLOW_MAX_DURATION_S)"
            )
        return self

    @property
    def lang(self) -> str:
        """The item's language: as given, else detected from its prompt."""
        return self.language or detect_language(self.prompt)


_PRIORITIES = {
    "high": "high", "高": "high", "紧急": "high", "urgent": "high",
    "normal": "normal", "普通": "normal", "正常": "normal", "中": "normal",
    "low": "low", "低": "low",
}  # fmt: skip


def _priority(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _PRIORITIES:
        return _PRIORITIES[value.strip().lower()]
    return value


Priority = Annotated[Literal["high", "normal", "low"], BeforeValidator(_priority)]


class ManifestOptions(BaseModel):
    """Manifest-wide settings, from a JSON manifest's top-level object."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    require_approval: Bool = False
    callback_url: HttpUrl | None = None
    name: Text | None = None
    priority: Priority = Field(
        "normal",
        description="high, normal or low (高, 普通, 低): GPU workers take a high priority "
        "manifest's queued shots before normal ones, whichever run sent them first",
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="GPU seconds per item for items without a preset",
    )

    @field_validator("callback_url")
    @classmethod
    def _no_credentials(cls, url: HttpUrl | None) -> HttpUrl | None:
        # Refused as soon as the manifest is read: the URL is copied into the run report.
        if url is not None and (url.username or url.password):
            raise ValueError("credentials in a callback URL are not accepted")
        return url


def derive_id(fields: dict[str, Any]) -> str:
    """A stable id for a row without one: the same content gives the same id on every run."""
    content = {k: v for k, v in sorted(fields.items()) if k != "id" and v not in (None, "")}
    digest = hashlib.sha256(
        json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"item-{digest[:12]}"
