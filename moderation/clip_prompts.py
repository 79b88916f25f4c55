"""The shipped zero-shot prompts: four per unsafe category (the counts are kept balanced, since a
category's score is the sum of its prompts' probabilities) and a longer list of safe contrasts,
in English and Chinese.

Chinese prompts suit only a multilingual checkpoint (``xlm-roberta-*-ViT-*``, ``nllb-clip-*``):
CLIP's BPE vocabulary is English and splits Chinese mostly into single UTF-8 bytes, so with an
English checkpoint they are close to noise. They are used only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

SAFE = "safe"  # the contrast prompts' label; never emitted as a Score category

# Four prompts per unsafe category (balanced, see the module docstring).
DEFAULT_PROMPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "violence": {
        "en": (
            "a photo of people fighting violently",
            "a photo of someone being beaten or attacked",
            "a violent brawl with punches and kicks",
            "a scene of a violent assault",
        ),
        "zh": (
            "人们激烈打斗的照片",
            "有人被殴打或袭击的照片",
            "拳打脚踢的暴力斗殴",
            "暴力袭击的场景",
        ),
    },
    "gore": {
        "en": (
            "a photo of a gory wound with exposed flesh",
            "a mutilated body",
            "a graphic image of a severe injury",
            "a dead body with visible injuries",
        ),
        "zh": (
            "血肉模糊的伤口的照片",
            "残缺不全的尸体",
            "严重受伤的血腥画面",
            "带有明显伤痕的尸体",
        ),
    },
    "blood": {
        "en": (
            "a photo of blood splattered on the floor",
            "a person bleeding heavily",
            "a pool of blood",
            "blood stains on clothes and walls",
        ),
        "zh": (
            "地上溅满鲜血的照片",
            "一个人大量流血",
            "一滩血",
            "衣服和墙上的血迹",
        ),
    },
    "weapons": {
        "en": (
            "a photo of a gun",
            "a person holding a knife as a weapon",
            "a person aiming a rifle",
            "a photo of weapons such as guns, knives or explosives",
        ),
        "zh": (
            "一把枪的照片",
            "一个人手持刀作为武器",
            "一个人举枪瞄准",
            "枪支、刀具或爆炸物等武器的照片",
        ),
    },
    # A cross-check for the nudity detectors, and a place for such frames to go other than gore.
    "sexual": {
        "en": (
            "a sexually explicit photo",
            "a photo of naked people having sex",
            "a pornographic image",
            "an erotic photo of a nude person",
        ),
        "zh": (
            "色情露骨的照片",
            "裸体人物发生性行为的照片",
            "一张色情图片",
            "裸体人物的情色照片",
        ),
    },
}

# Ordinary scenes, plus look-alikes that should not count: kitchen knives, red paint, sport.
DEFAULT_SAFE_PROMPTS: dict[str, tuple[str, ...]] = {
    "en": (
        "a peaceful landscape",
        "a person smiling",
        "an animated cartoon scene",
        "a starry night sky",
        "people talking at a table",
        "a city street in daylight",
        "a cute animal",
        "a plate of food",
        "people dancing at a party",
        "a chef cutting vegetables in a kitchen",
        "red paint or tomato sauce",
        "a car driving on a road",
        "an empty room",
        "abstract colorful shapes",
        "a person walking in a park",
        "people playing a sport",
    ),
    "zh": (
        "宁静的风景",
        "一个微笑的人",
        "动画卡通场景",
        "星空",
        "人们围坐在桌旁聊天",
        "白天的城市街道",
        "一只可爱的动物",
        "一盘食物",
        "人们在派对上跳舞",
        "厨师在厨房里切菜",
        "红色颜料或番茄酱",
        "一辆在路上行驶的汽车",
        "一个空房间",
        "抽象的彩色图形",
        "一个人在公园里散步",
        "人们在进行体育运动",
    ),
}


def default_prompts(
    languages: Sequence[str] = ("en",),
) -> tuple[dict[str, list[str]], list[str]]:
    """The shipped category prompts and safe prompts in ``languages``, ready for the constructor."""
    known = set(DEFAULT_SAFE_PROMPTS)
    unknown = [lang for lang in languages if lang not in known]
    if unknown or not languages:
        raise ValueError(f"prompt languages {list(languages)}: choose from {sorted(known)}")
    prompts = {
        category: [p for lang in languages for p in by_lang[lang]]
        for category, by_lang in DEFAULT_PROMPTS.items()
    }
    return prompts, [p for lang in languages for p in DEFAULT_SAFE_PROMPTS[lang]]


__all__ = ["DEFAULT_PROMPTS", "DEFAULT_SAFE_PROMPTS", "SAFE", "default_prompts"]
