"""The controlled vocabulary of the prompt formula, and the lookup that validates manifest values.

A content team writes "油画", "Oil painting" or "oil-painting"; all three must mean the same
style, and "油彩" must be refused with the list of what is accepted, at ingestion, on its row.
The vocabulary is data (``data/vocabulary.toml``) so it can grow without code changes.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from wanflow.manifest import Item

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Term:
    """One accepted value of one control."""

    control: str
    id: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    zh_text: str = ""
    en_text: str = ""
    drop_negative: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def text(self, lang: str, **slots: str) -> str:
        """The phrase this value contributes to a prompt in ``lang``, its slots filled."""
        template = (self.zh_text or self.zh) if lang == "zh" else (self.en_text or self.en)
        for slot, value in slots.items():
            template = template.replace("{" + slot + "}", value)
        return re.sub(r"\s{2,}", " ", template).strip()


class UnknownValue(ValueError):
    """A manifest value that is not in a control's vocabulary; the message lists what is."""

    def __init__(
        self,
        control: str,
        value: str,
        accepted: list[str],
        label: str = "",
        hint: str = "",
    ) -> None:
        self.control, self.value, self.accepted = control, value, accepted
        super().__init__(
            f"unknown {label or control} {value!r}; accepted: {', '.join(accepted)}{hint}"
        )


def _key(value: str) -> str:
    """Case, width, spaces, '_' and '-' do not distinguish values."""
    text = unicodedata.normalize("NFKC", value).casefold()
    return re.sub(r"[\s_\-]+", "", text)


@dataclass
class Control:
    name: str
    label_zh: str
    label_en: str
    terms: dict[str, Term] = field(default_factory=dict)
    modifier: str | None = None
    _index: dict[str, Term] = field(default_factory=dict)

    def add(self, term: Term) -> None:
        for spelling in (term.id, term.zh, term.en, *term.aliases):
            key = _key(spelling)
            other = self._index.get(key)
            if other is not None and other.id != term.id:
                raise ValueError(
                    f"vocabulary: {self.name} spelling {spelling!r} names both "
                    f"{other.id!r} and {term.id!r}"
                )
            self._index[key] = term
        self.terms[term.id] = term

    def resolve(self, value: str) -> Term:
        term = self._index.get(_key(value))
        if term is None:
            raise self.unknown(value)
        return term

    def unknown(self, value: str, hint: str = "") -> UnknownValue:
        label = f"{self.label_en} ({self.label_zh})"
        return UnknownValue(self.name, value, self.accepted(), label, hint)

    def find(self, key: str) -> Term | None:
        return self._index.get(key)

    def spellings(self) -> list[tuple[str, Term]]:
        """Every normalised spelling, longest first (so that "缓缓" wins over "缓")."""
        return sorted(self._index.items(), key=lambda pair: -len(pair[0]))

    def accepted(self) -> list[str]:
        """What to tell a person who wrote an unknown value: each value's zh and en names."""
        return [f"{t.zh}/{t.en}" for t in self.terms.values()]


class Vocabulary:
    """All controls. ``resolve(control, value)`` is the one door manifest values go through."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.controls: dict[str, Control] = {}
        for name, table in data.items():
            label = table.get("label", {})
            control = Control(
                name, label.get("zh", name), label.get("en", name), modifier=table.get("modifier")
            )
            for term_id, spec in table.items():
                if term_id in ("label", "modifier"):
                    continue
                control.add(
                    Term(
                        control=name,
                        id=term_id,
                        zh=spec["zh"],
                        en=spec["en"],
                        aliases=tuple(spec.get("aliases", ())),
                        zh_text=spec.get("zh_text", ""),
                        en_text=spec.get("en_text", ""),
                        drop_negative=tuple(spec.get("drop_negative", ())),
                    )
                )
            self.controls[name] = control

    def resolve(self, control: str, value: str) -> Term:
        return self.controls[control].resolve(value)

    def resolve_modified(self, control: str, value: str) -> tuple[Term, Term | None]:
        """A value that may carry its modifier: "缓慢推进", "slow push in", "push in slowly".

        Content teams write the speed into the camera move; splitting it off here keeps one
        vocabulary for each (the modifier control is named by ``modifier`` in the data file).
        Raises ``UnknownValue`` naming the control when neither reading works.
        """
        owner, key = self.controls[control], _key(value)
        term = owner.find(key)
        if term is not None:
            return term, None
        if owner.modifier is None:
            return owner.resolve(value), None  # raises, listing the accepted values
        modifiers = self.controls[owner.modifier]
        for spelling, modifier in modifiers.spellings():
            for rest in (key.removeprefix(spelling), key.removesuffix(spelling)):
                if rest and rest != key and (term := owner.find(rest)) is not None:
                    return term, modifier
        hint = f"; a {modifiers.label_en} ({modifiers.label_zh}) may lead or follow, as in 缓慢推进"
        raise owner.unknown(value, hint)

    def resolve_item(self, item: Item) -> tuple[dict[str, Term], list[tuple[str, str]]]:
        """The item's control values as terms, and (field, message) for each one that is not.

        A modifier written into its control's value ("缓慢推进") fills the modifier control
        unless the item sets it too; a contradiction between the two is an error on the field.
        """
        terms: dict[str, Term] = {}
        problems: list[tuple[str, str]] = []
        for name, control in self.controls.items():
            value = getattr(item, name, None)
            if value is None:
                continue
            try:
                term, modifier = self.resolve_modified(name, value)
            except UnknownValue as exc:
                problems.append((name, str(exc)))
                continue
            terms[name] = term
            if modifier is None or control.modifier is None:
                continue
            explicit = getattr(item, control.modifier, None)
            if explicit is not None:
                try:
                    stated = self.resolve(control.modifier, explicit)
                except UnknownValue:
                    continue  # reported on its own field
                if stated.id != modifier.id:
                    problems.append(
                        (
                            name,
                            f"{control.label_en} ({control.label_zh}) {value!r} says "
                            f"{modifier.zh}/{modifier.en} but {control.modifier} is {explicit!r}",
                        )
                    )
                continue
            terms.setdefault(control.modifier, modifier)
        return terms, problems

    def get(self, control: str, term_id: str) -> Term:
        return self.controls[control].terms[term_id]

    def terms(self, control: str) -> list[Term]:
        return list(self.controls[control].terms.values())

    def check_item(self, item: Item) -> list[tuple[str, str]]:
        """Every item field named after a control must hold one of its values.

        Returns (field, message) pairs, empty when the item is fine; ingestion turns them into
        row-level rejections.
        """
        return self.resolve_item(item)[1]


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    text = resources.files("generation").joinpath("data/vocabulary.toml").read_text("utf-8")
    return Vocabulary(tomllib.loads(text))
