"""The prompt stage's data in one place: vocabulary, lexicon, presets and cost figures.

Built once per run (the lexicon may carry the operator's overrides from the bucket) and handed
to ingestion (row checks), expansion and planning, so all three agree on what a value means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from generation.cost import CostModel, default_cost_model
from generation.lexicon import Lexicon, default_lexicon, load
from generation.plan import ExpandedItem, Planner, expand_item, keyframe_problem
from generation.presets import Presets, default_presets
from generation.shots import Pacing
from generation.vocabulary import Vocabulary, default_vocabulary
from wanflow.manifest import Item
from wanflow.settings import Settings

_CHECKS_KEPT = 4096  # value combinations remembered; unique ones in every row gain nothing


@dataclass(frozen=True)
class Catalogue:
    vocabulary: Vocabulary
    lexicon: Lexicon
    presets: Presets
    costs: CostModel
    pacing: Pacing = field(default_factory=Pacing)
    # check_item's answers by the values it reads: a manifest repeats a few styles, camera moves
    # and presets over thousands of rows, and resolving each costs more than the rest of a row.
    _checked: dict[tuple, tuple[tuple[str, str], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def check_item(self, item: Item) -> list[tuple[str, str]]:
        """Row-level checks ingestion applies: control values, the preset, and a keyframe item's
        narration (one sentence per gap)."""
        values = item.__dict__  # half the cost of its attributes, on every row of a manifest
        key = self._checked_values(values)
        keyframes = values["images"] is not None
        if keyframes or values["image"] is not None:  # not text to video, as most rows are
            # (values, image?, keyframes?) never equals a tuple of values alone: no value is a
            # tuple.
            key = (key, values["image"] is not None, keyframes)
        problems = self._checked.get(key)
        if problems is None:
            problems = (*self.vocabulary.check_item(item), *self.presets.check_item(item))
            if len(self._checked) < _CHECKS_KEPT:
                self._checked[key] = problems
        if keyframes and (problem := keyframe_problem(item)):
            return [*problems, ("narration", problem)]
        return [*problems] if problems else []

    @cached_property
    def _checked_values(self) -> Callable[[dict[str, Any]], Any]:
        """An item's values of every control and its preset; the other controls are never
        set, so always None."""
        names = [name for name in self.vocabulary.controls if name in Item.model_fields]
        return itemgetter(*names, "preset")

    def expand(self, item: Item) -> ExpandedItem:
        return expand_item(
            item, vocabulary=self.vocabulary, lexicon=self.lexicon, pacing=self.pacing
        )

    def planner(
        self, settings: Settings, *, time_budget_s: float | None = None, load_share: float = 1.0
    ) -> Planner:
        return Planner(
            presets=self.presets,
            costs=self.costs,
            pacing=self.pacing,
            gpu=settings.gpu_type,
            default_preset=settings.default_preset,
            time_budget_s=time_budget_s if time_budget_s is not None else settings.time_budget_s,
            load_share=load_share,
        )


def pacing_from(settings: Settings) -> Pacing:
    return Pacing(
        max_shot_s=settings.max_shot_s,
        min_shot_s=min(settings.min_shot_s, settings.max_shot_s),
        zh_chars_per_s=settings.zh_chars_per_s,
        en_words_per_s=settings.en_words_per_s,
    )


def build_catalogue(
    settings: Settings,
    *,
    lexicon_text: str | None = None,
    lexicon_source: str = "config/lexicon.toml",
) -> Catalogue:
    """The shipped catalogue, with an operator lexicon (TOML text) merged over the shipped one.

    Raises ``LexiconError`` for an unusable operator lexicon and ``PresetError`` when the
    configured default preset does not exist: both stop a run before any item is touched.
    """
    lexicon = default_lexicon()
    if lexicon_text is not None:
        lexicon = lexicon.merged(load(lexicon_text, lexicon_source).entries)
    presets = default_presets()
    presets.resolve(settings.default_preset)  # fail early on a mistyped WANFLOW_DEFAULT_PRESET
    return Catalogue(
        vocabulary=default_vocabulary(),
        lexicon=lexicon,
        presets=presets,
        costs=default_cost_model(),
        pacing=pacing_from(settings),
    )
