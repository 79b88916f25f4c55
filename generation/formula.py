"""The structured prompt formula: subject + scene + motion + camera + aesthetics + style.

Wan2.2's own prompt extender writes dense prompts that name the time of day, the light, the
colour tone, the shot size, the camera angle and the composition; an idea of six characters
renders flat. The formula writes those parts in a fixed order, in the item's language, from the
item's controls (validated against the vocabulary at ingestion), and builds the negative prompt
on Wan's default one, minus any word that contradicts the requested look.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from generation.lexicon import Expansion, Lexicon
from generation.vocabulary import Term, Vocabulary
from wanflow.manifest import Item

# Wan2.2's default negative prompt (wan/configs/shared_config.py, `sample_neg_prompt`). The
# official code uses this Chinese text for prompts in every language.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

# Controls that describe the look, in the order the prompt names them.
AESTHETICS = (
    "time_of_day",
    "light_source",
    "light_type",
    "colour_tone",
    "shot_size",
    "camera_angle",
    "composition",
    "lens",
)
_SEP = {"zh": "，", "en": ", "}


def prompt_language(item: Item) -> str:
    """Prompts are written in Chinese or English; Wan2.2's text encoder reads both well."""
    return "zh" if item.lang.startswith("zh") else "en"


def item_seed(item: Item) -> int:
    """The item's seed, or one derived from its id so that reruns make the same video."""
    return item.seed if item.seed is not None else seed_for(item.id)


def seed_for(text: str) -> int:
    """A seed that ``text`` always gives, in any process (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def resolve_controls(item: Item, vocabulary: Vocabulary) -> dict[str, Term]:
    """The item's control values as vocabulary terms (``ValueError`` naming the first bad one)."""
    terms, problems = vocabulary.resolve_item(item)
    if problems:
        name, message = problems[0]
        raise ValueError(f"{name}: {message}")
    return terms


@dataclass
class StructuredPrompt:
    """A generation-ready prompt, its parts (for review), and what the lexicon changed."""

    prompt: str
    negative_prompt: str
    parts: dict[str, str]
    expansions: list[Expansion] = field(default_factory=list)


@dataclass
class Formula:
    """Writes prompts for one item: its language, seed, controls and lexicon are fixed."""

    item: Item
    controls: dict[str, Term]
    lexicon: Lexicon
    lang: str
    seed: int

    def expand(self, text: str | None, found: list[Expansion]) -> str:
        if not text:
            return ""
        expanded, changes = self.lexicon.expand(text, self.lang, self.seed)
        found.extend(changes)
        return expanded

    def compose(self, core: str, *, context: str | None = None) -> StructuredPrompt:
        """One prompt for ``core`` (the item's idea, or one beat of its story).

        ``context`` (the item's idea, when ``core`` is a beat of its narration) keeps the
        setting in every shot of a story.
        """
        lang, found = self.lang, []
        item, terms = self.item, self.controls
        subject = self.expand(item.subject, found)
        parts = {
            "subject": subject,
            "content": self.expand(core, found),
            "context": self.expand(context, found),
            "scene": self.expand(item.scene, found),
            "motion": self._motion(),
            "camera": self._camera(),
            "aesthetics": _SEP[lang].join(
                terms[name].text(lang) for name in AESTHETICS if name in terms
            ),
            "style": self._style(),
        }
        first = _SEP[lang].join(
            _trim(parts[name]) for name in ("subject", "content", "context", "scene") if parts[name]
        )
        sentences = [first, parts["motion"], parts["camera"], parts["aesthetics"], parts["style"]]
        return StructuredPrompt(
            prompt=_join_sentences([s for s in sentences if s], lang),
            negative_prompt=self.negative_prompt(),
            parts=parts,
            expansions=found,
        )

    def _motion(self) -> str:
        lang, terms, motion = self.lang, self.controls, (self.item.motion or "").strip()
        speed = terms.get("motion_speed")
        bits = []
        if motion or speed:
            verb = motion or ("运动" if lang == "zh" else "moving")
            if speed is None:
                bits.append(verb)
            elif lang == "zh":
                bits.append(speed.text(lang) + verb)
            else:
                bits.append(f"{verb} {speed.text(lang)}")
        for name in ("motion_intensity", "emotion"):
            if name in terms:
                bits.append(terms[name].text(lang))
        return _SEP[lang].join(bits)

    def _camera(self) -> str:
        lang, terms = self.lang, self.controls
        speed = terms["camera_speed"].text(lang) if "camera_speed" in terms else ""
        if "camera" in terms:
            return terms["camera"].text(lang, speed=speed)
        if speed:
            return f"镜头{speed}移动" if lang == "zh" else f"the camera moves {speed}"
        return ""

    def _style(self) -> str:
        lang, terms = self.lang, self.controls
        if "style" not in terms:
            return ""
        style = terms["style"].text(lang)
        intensity = terms.get("style_intensity")
        return intensity.text(lang, style=style) if intensity else style

    def negative_prompt(self) -> str:
        """Wan's default negative prompt minus words the look contradicts, plus the item's own."""
        dropped = {word for term in self.controls.values() for word in term.drop_negative}
        words = [w for w in WAN_NEGATIVE_PROMPT.split("，") if w not in dropped]
        if self.item.negative_prompt:
            words.append(self.item.negative_prompt.strip().strip("，,"))
        return "，".join(words)


def _trim(text: str) -> str:
    """A beat keeps its inner punctuation but not its full stop: the formula adds its own."""
    return text.strip().rstrip("。！？!?；;.,，、… ")


def _join_sentences(sentences: list[str], lang: str) -> str:
    if lang == "zh":
        return "".join(s.rstrip("，。,. ") + "。" for s in sentences)
    text = ". ".join(s.rstrip(",. ")[:1].upper() + s.rstrip(",. ")[1:] for s in sentences)
    return text + "."


def formula_for(item: Item, vocabulary: Vocabulary, lexicon: Lexicon) -> Formula:
    return Formula(
        item=item,
        controls=resolve_controls(item, vocabulary),
        lexicon=lexicon,
        lang=prompt_language(item),
        seed=item_seed(item),
    )
