"""Manifest item → expanded prompts → shot plan: what the GPU stage will render, shot by shot.

Two steps, because screening sits between them: ``expand_item`` writes every text that could
reach the model (so all of it can be screened), and ``plan_item`` turns an allowed expansion into
shots with presets, frame counts, seeds and transitions. Every shot of an item keeps the item's
subject, controls (style, palette, light) and seed, so characters and look stay the same from
shot to shot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from generation.cost import CostModel, Estimate, NoFigures
from generation.formula import Formula, StructuredPrompt, formula_for
from generation.lexicon import Lexicon
from generation.presets import GenerationParams, PresetError, Presets, frames_for, is_auto
from generation.shots import Pacing, beat_durations, beats, split_sentences
from generation.vocabulary import Vocabulary
from wanflow.manifest import Item

DEFAULT_TRANSITION = "fade"


@dataclass
class Beat:
    narration: str | None
    prompt: StructuredPrompt


@dataclass
class ExpandedItem:
    """An item's prompts before planning; ``texts()`` is everything screening must see."""

    item: Item
    lang: str
    seed: int
    formula: Formula
    main: StructuredPrompt
    beats: list[Beat] = field(default_factory=list)

    def texts(self) -> list[tuple[str, str]]:
        """(field, text) pairs: every text field of the item and every prompt written from it.

        All of it can reach the model or be published (``metadata.json`` carries the whole item),
        so nothing is left out: not the negative prompt (a slogan there is published like any
        other), not the music, voice or image names, not the lexicon's expansions.
        """
        item = self.item
        out: list[tuple[str, str]] = []
        for name in type(item).model_fields:
            value = getattr(item, name)
            if isinstance(value, str) and value:
                out.append((name, value))
            elif isinstance(value, list) and value:  # tags, published with the video
                out.append((name, ", ".join(str(v) for v in value)))
        prompts = [("expanded", self.main)]
        if len(self.beats) > 1 or self.item.images:  # a keyframe shot has its own prompt
            prompts += [(f"shot_{i + 1}", b.prompt) for i, b in enumerate(self.beats)]
        for name, prompt in prompts:
            out.append((f"{name}_prompt", prompt.prompt))
            out.append((f"{name}_negative_prompt", prompt.negative_prompt))
            out += [(f"{name}_expansion", e.replacement) for e in prompt.expansions]
        return out


def expand_item(
    item: Item, *, vocabulary: Vocabulary, lexicon: Lexicon, pacing: Pacing
) -> ExpandedItem:
    """Prompts for the item and each beat of its narration (``ValueError``: bad control value)."""
    formula = formula_for(item, vocabulary, lexicon)
    main = formula.compose(item.prompt)
    expanded = ExpandedItem(item, formula.lang, formula.seed, formula, main)
    if item.images:
        expanded.beats = keyframe_beats(item, formula)
        return expanded
    story = beats(item.narration, pacing) if item.narration else []
    if len(story) <= 1:
        expanded.beats = [Beat(story[0] if story else None, main)]
    else:
        expanded.beats = [Beat(text, formula.compose(text, context=item.prompt)) for text in story]
    return expanded


def keyframe_beats(item: Item, formula: Formula) -> list[Beat]:
    """One beat per gap between keyframes: its prompt the gap's transition (else the
    narration's sentence), its narration that sentence. Sentences are not cut to a clip's
    length here: a gap is one shot, and a long sentence extends it (the narration stage says so).
    """
    gaps = len(item.images or ()) - 1
    spoken = split_sentences(item.narration) if item.narration else []
    if problem := keyframe_problem(item):
        raise ValueError(problem)
    texts = item.transitions or spoken
    return [
        Beat(spoken[k] if spoken else None, formula.compose(texts[k], context=item.prompt))
        for k in range(gaps)
    ]


def keyframe_problem(item: Item) -> str | None:
    """Why a keyframe item's narration cannot be timed gap by gap (None: it can): one sentence
    per gap, whether the prompts come from the sentences or from ``transitions``."""
    if not item.images or not item.narration:
        return None
    gaps, sentences = len(item.images) - 1, len(split_sentences(item.narration))
    if sentences == gaps:
        return None
    source = "" if item.transitions else " (the narration's sentences are the shots' prompts)"
    return (
        f"the narration has {sentences} sentence(s) but {len(item.images)} keyframes make "
        f"{gaps} shot(s): give one sentence per shot{source}"
    )


class Shot(BaseModel):
    index: int = Field(description="1-based position in the video")
    narration: str | None = None
    prompt: str
    negative_prompt: str
    duration_s: float = Field(description="planned; the narration stage refines it")
    num_frames: int = Field(description="4k+1")
    seed: int
    transition: str | None = Field(None, description="into the next shot; none after the last")
    start_image: str | None = Field(None, description="keyframe the shot starts on (bucket key)")
    end_image: str | None = Field(None, description="keyframe the shot is to end on")
    end_pinned: bool | None = Field(
        None,
        description="whether the model is given end_image as the last frame; false: the shot "
        "ends where the model takes it, and the next shot starts on end_image all the same",
    )


class CostEstimate(BaseModel):
    gpu: str
    total_s: float
    denoise_s: float
    decode_s: float
    load_s: float
    basis: list[str]


class ShotPlan(BaseModel):
    """Everything the generation stage needs for one item; written to the bucket as JSON."""

    item_id: str
    title: str | None = None
    language: str
    seed: int
    params: GenerationParams
    image: str | None = Field(None, description="bucket key of the item's reference image")
    images: list[str] | None = Field(None, description="keyframes, in order: one shot per gap")
    shots: list[Shot]
    estimate: CostEstimate | None = None
    expansions: dict[str, str] = Field(default_factory=dict, description="keyword → text used")
    warnings: list[str] = Field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return sum(shot.duration_s for shot in self.shots)


@dataclass(frozen=True)
class Planner:
    """The shared context of planning: catalogues, pacing, GPU type and budget policy."""

    presets: Presets
    costs: CostModel
    pacing: Pacing = field(default_factory=Pacing)
    gpu: str = "H100"
    default_preset: str = "standard"
    time_budget_s: float | None = None
    load_share: float = 1.0  # the part of one model load charged to an item (1/batch size)

    def plan(self, expanded: ExpandedItem) -> ShotPlan:
        item, warnings = expanded.item, []
        term = expanded.formula.controls.get("orientation")
        orientation = term.id if term else "landscape"
        durations = self._durations(expanded, warnings)
        params, estimate = self._choose(item, orientation, durations, self.time_budget_s, warnings)
        transition = self._transition(expanded)
        shots = []
        for i, (beat, seconds) in enumerate(
            zip(self._beats(expanded, durations), durations, strict=True)
        ):
            frames = frames_for(seconds, params.fps, params.max_frames)
            repeat = len(expanded.beats) == 1 and i > 0  # one prompt cut into several clips
            shots.append(
                Shot(
                    index=i + 1,
                    narration=beat.narration,
                    prompt=beat.prompt.prompt,
                    negative_prompt=beat.prompt.negative_prompt,
                    duration_s=round(frames / params.fps, 3),
                    num_frames=frames,
                    # Same seed keeps the look; a repeated prompt needs another or clips repeat.
                    seed=expanded.seed + i if repeat else expanded.seed,
                    transition=transition if i < len(durations) - 1 else None,
                )
            )
        if item.duration and sum(s.duration_s for s in shots) < item.duration - 1:
            warnings.append(
                f"planned {sum(s.duration_s for s in shots):.1f} s of the {item.duration:g} s "
                "asked: the narration is short; add sentences or shorten the duration"
            )
        if item.images:
            self._pin(shots, item.images, params, warnings)
        expansions = {
            e.keyword: e.replacement for b in expanded.beats for e in b.prompt.expansions
        } | {e.keyword: e.replacement for e in expanded.main.expansions}
        return ShotPlan(
            item_id=item.id,
            title=item.title,
            language=expanded.lang,
            seed=expanded.seed,
            params=params,
            image=item.image,
            images=item.images,
            shots=shots,
            estimate=_estimate_model(estimate) if estimate else None,
            expansions=expansions,
            warnings=warnings,
        )

    def _pin(
        self, shots: list[Shot], images: list[str], params: GenerationParams, warnings: list[str]
    ) -> None:
        """Shot k from keyframe k to keyframe k+1; its end is pinned where the model takes a
        last frame. Either way shot k+1 starts on keyframe k+1, so a pinned join shows no jump."""
        pinned = self.presets.models[params.model].last_frame
        for k, shot in enumerate(shots):
            shot.start_image, shot.end_image, shot.end_pinned = images[k], images[k + 1], pinned
        if not pinned:
            models = [m for m, model in self.presets.models.items() if model.last_frame]
            warnings.append(
                f"{params.model} honours only a first frame: each shot starts on its keyframe but "
                "its end is not pinned to the next one, so a join may jump; "
                f"preset {' or '.join(models)} pins both ends"
            )

    def _durations(self, expanded: ExpandedItem, warnings: list[str]) -> list[float]:
        item, pacing = expanded.item, self.pacing
        narrated = [b.narration for b in expanded.beats if b.narration]
        if narrated:
            return beat_durations(narrated, pacing, item.duration)
        if item.images:  # one shot per gap, whatever its length
            gaps = len(item.images) - 1
            return [round((item.duration or pacing.max_shot_s * gaps) / gaps, 3)] * gaps
        total = item.duration or pacing.max_shot_s
        count = max(1, math.ceil(total / pacing.max_shot_s - 1e-9))
        return [round(total / count, 3)] * count

    def _beats(self, expanded: ExpandedItem, durations: list[float]) -> list[Beat]:
        if len(expanded.beats) == len(durations):
            return expanded.beats
        return [expanded.beats[0]] * len(durations)

    def _transition(self, expanded: ExpandedItem) -> str:
        term = expanded.formula.controls.get("transition")
        return term.id if term else DEFAULT_TRANSITION

    def _choose(
        self,
        item: Item,
        orientation: str,
        durations: list[float],
        budget: float | None,
        warnings: list[str],
    ) -> tuple[GenerationParams, Estimate | None]:
        has_image = item.image is not None or item.images is not None
        keyframes = item.images is not None
        wants_auto = (item.preset is None and budget is not None) or (
            item.preset is not None and is_auto(item.preset)
        )
        if not wants_auto or budget is None:
            if wants_auto:
                warnings.append(f"preset auto without a time budget: using {self.default_preset}")
            name = item.preset if item.preset and not is_auto(item.preset) else self.default_preset
            params = self.presets.resolve(
                name, has_image=has_image, orientation=orientation, keyframes=keyframes
            )
            return params, self._estimate(params, durations, warnings)
        considered, best = [], None
        for name in self.presets.order:  # cheapest first; the last that fits wins
            params = self.presets.resolve(
                name, has_image=has_image, orientation=orientation, keyframes=keyframes
            )
            estimate = self._estimate(params, durations, [])
            if estimate is None:
                considered.append(f"{name}: no figures on {self.gpu}")
                continue
            considered.append(f"{name}: {estimate.total_s:.0f} s")
            if estimate.total_s <= budget:
                best = (params, estimate)
        if best is None:
            cheapest = self.presets.order[0]
            params = self.presets.resolve(
                cheapest, has_image=has_image, orientation=orientation, keyframes=keyframes
            )
            warnings.append(
                f"no preset fits the {budget:g} s budget on {self.gpu} ({'; '.join(considered)}); "
                f"using {cheapest}"
            )
            return params, self._estimate(params, durations, [])
        return best

    def _estimate(
        self, params: GenerationParams, durations: list[float], warnings: list[str]
    ) -> Estimate | None:
        frames = [frames_for(d, params.fps, params.max_frames) for d in durations]
        try:
            estimate = self.costs.estimate(params, frames, self.gpu)
        except NoFigures as exc:
            warnings.append(f"no cost estimate: {exc}")
            return None
        estimate.load_s *= self.load_share
        return estimate


def _estimate_model(estimate: Estimate) -> CostEstimate:
    return CostEstimate(
        gpu=estimate.gpu,
        total_s=round(estimate.total_s, 1),
        denoise_s=round(estimate.denoise_s, 1),
        decode_s=round(estimate.decode_s, 1),
        load_s=round(estimate.load_s, 1),
        basis=estimate.basis,
    )


__all__ = [
    "Beat",
    "CostEstimate",
    "ExpandedItem",
    "Planner",
    "PresetError",
    "Shot",
    "ShotPlan",
    "expand_item",
]
