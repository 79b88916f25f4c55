"""Spreadsheet column names (and JSON keys) as people write them → the item fields they mean:
"画面描述", "Negative Prompt", "时长（秒）" and "duration" all name a field of
:class:`wanflow.manifest.Item`."""

from __future__ import annotations

import re
import unicodedata

# Column names people use, mapped to field names. Keys are compared after ``header_key``.
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "itemid", "编号", "序号", "ID号", "条目编号"),
    "title": ("title", "name", "标题", "名称", "题目"),
    "prompt": ("prompt", "text", "idea", "提示词", "提示语", "描述", "画面描述", "创意"),
    "narration": ("narration", "story", "script", "voiceover", "旁白", "解说", "文案", "故事"),
    "style": ("style", "风格", "画风"),
    "style_intensity": ("styleintensity", "intensity", "风格强度", "强度"),
    "preset": ("preset", "quality", "预设", "质量", "画质"),
    "duration": ("duration", "durations", "length", "时长", "时长秒", "时长s", "秒数"),
    "seed": ("seed", "种子", "随机种子"),
    "negative_prompt": ("negativeprompt", "negative", "负面提示词", "反向提示词", "负向提示词"),
    "image": ("image", "imagekey", "referenceimage", "参考图", "参考图片", "图片", "首帧"),
    "language": ("language", "lang", "语言"),
    "voice": ("voice", "speaker", "音色", "配音", "声音"),
    "speech_rate": ("speechrate", "rate", "ttsrate", "voicerate", "语速", "朗读速度"),
    "bgm": ("bgm", "music", "backgroundmusic", "背景音乐", "配乐", "音乐"),
    "require_approval": (
        "requireapproval",
        "approval",
        "needsapproval",
        "需要审核",
        "人工审核",
        "审核",
    ),
    "tags": ("tags", "tag", "labels", "标签"),
    "subject": ("subject", "主体", "主角"),
    "scene": ("scene", "setting", "场景", "环境"),
    "motion": ("motion", "action", "运动", "动作"),
    "motion_speed": ("motionspeed", "speed", "运动速度", "动作速度", "速度"),
    "motion_intensity": ("motionintensity", "motionstrength", "运动幅度", "动作幅度", "幅度"),
    "emotion": ("emotion", "mood", "情绪", "情感", "表情"),
    "camera": ("camera", "cameramovement", "运镜", "镜头运动", "摄像机运动"),
    "camera_speed": ("cameraspeed", "运镜速度", "镜头速度"),
    "camera_angle": ("cameraangle", "angle", "机位", "机位角度", "拍摄角度", "角度"),
    "light_source": ("lightsource", "光源"),
    "light_type": ("lighttype", "lighting", "光线", "光线类型", "光效"),
    "time_of_day": ("timeofday", "时间", "时段", "时间段"),
    "shot_size": ("shotsize", "framing", "景别"),
    "composition": ("composition", "构图"),
    "lens": ("lens", "镜头", "焦段"),
    "colour_tone": ("colourtone", "colortone", "tone", "palette", "色调"),
    "orientation": ("orientation", "aspect", "aspectratio", "画幅", "画面方向", "横竖屏"),
    "transition": ("transition", "转场", "转场效果"),
}

_UNITS = re.compile(r"[（(]\s*(秒|s|sec|secs|seconds|px)\s*[)）]$", re.IGNORECASE)


def header_key(name: str) -> str:
    """Normalise a column name: width (NFKC), case, spaces, ``_``/``-``, a trailing unit."""
    text = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff")
    text = _UNITS.sub("", text)
    return re.sub(r"[\s_\-./]+", "", text).lower()


HEADER_ALIASES: dict[str, str] = {
    header_key(alias): field for field, aliases in _ALIASES.items() for alias in aliases
}
HEADER_ALIASES.update({header_key(field): field for field in _ALIASES})


def canonical_field(header: str) -> str | None:
    """The item field a column or JSON key names, or ``None`` when it names none."""
    return HEADER_ALIASES.get(header_key(header))


__all__ = ["HEADER_ALIASES", "canonical_field", "header_key"]
