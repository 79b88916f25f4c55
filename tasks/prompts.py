"""Tasks of the prompt stage: operator config, expand, screen, plan, write plans.

Expansion, screening and planning are pure and take microseconds per item, so each is one task
over the whole manifest (a task per item would cost more in Prefect bookkeeping than the work);
inside, every item is handled on its own and one item's failure is recorded, never raised.
Screening is the exception: it fails closed, so an error there fails the run rather than let an
unscreened item through.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from generation.catalogue import Catalogue, build_catalogue
from generation.plan import ExpandedItem, ShotPlan
from moderation import Screener, parse_list
from tasks.common import RETRIES, storage
from wanflow import keys
from wanflow.manifest import Item
from wanflow.report import Block
from wanflow.settings import Settings


@dataclass
class OperatorConfig:
    """The bucket's ``config/`` files the prompt stage reads, keyed by object key.

    Lists stay bytes: ``parse_list`` decodes them and names the line of a bad byte.
    """

    lexicon: str | None = None
    blacklists: dict[str, bytes] = field(default_factory=dict)
    allowlists: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Outcome:
    """Per-item results of a stage: successes by item id, failures as reasons."""

    ok: dict[str, object] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@task(name="read-operator-config", timeout_seconds=120, cache_policy=NO_CACHE, **RETRIES)
def read_operator_config(settings: Settings) -> OperatorConfig:
    """Lexicon overrides, blacklists and allowlists from ``config/`` (all optional)."""
    store = storage(settings)
    config = OperatorConfig()
    if store.exists(keys.LEXICON):
        config.lexicon = _text(store.get_bytes(keys.LEXICON), keys.LEXICON)
    for prefix, target in (
        (keys.BLACKLISTS, config.blacklists),
        (keys.ALLOWLISTS, config.allowlists),
    ):
        for obj in store.list(prefix):
            if not obj.is_dir and obj.key.endswith(".txt"):
                target[obj.key] = store.get_bytes(obj.key)
    get_run_logger().info(
        "operator config: lexicon %s, %d blacklist(s), %d allowlist(s)",
        "yes" if config.lexicon else "no",
        len(config.blacklists),
        len(config.allowlists),
    )
    return config


def _text(data: bytes, key: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{key}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None


def catalogue_for(config: OperatorConfig, settings: Settings) -> Catalogue:
    return build_catalogue(settings, lexicon_text=config.lexicon)


def screener_for(config: OperatorConfig, settings: Settings) -> Screener:
    """Shipped lists (unless WANFLOW_SCREEN_DEFAULTS=false) plus the operator's; a bad line in
    an operator file fails the run: screening with a half-read list would fail open."""
    blacklists = [parse_list(data, key, "blacklist") for key, data in config.blacklists.items()]
    allowlists = [parse_list(data, key, "allowlist") for key, data in config.allowlists.items()]
    return Screener.build(
        blacklists=[e for entries in blacklists for e in entries],
        allowlists=[e for entries in allowlists for e in entries],
        defaults=settings.screen_defaults,
    )


@task(name="expand-prompts", timeout_seconds=600, cache_policy=NO_CACHE)
def expand_prompts(items: list[Item], catalogue: Catalogue) -> Outcome:
    """Structured prompts for every item and every beat of its story."""
    outcome = Outcome()
    for item in items:
        try:
            outcome.ok[item.id] = catalogue.expand(item)
        except Exception as exc:  # one item's failure never sinks the manifest
            outcome.failed[item.id] = f"expand: {type(exc).__name__}: {exc}"
    return outcome


def screen_item(item: ExpandedItem, screener: Screener) -> list[Block]:
    """Every match in every text of one item (empty: allowed); see ``ExpandedItem.texts``."""
    blocks: list[Block] = []
    for name, text in item.texts():
        blocks += [
            Block(
                field=name,
                term=m.term,
                category=m.category,
                start=m.start,
                end=m.end,
                matched=m.matched,
            )
            for m in screener.screen(text).matches
        ]
    return blocks


@task(name="screen-text", timeout_seconds=600, cache_policy=NO_CACHE)
def screen_text(expanded: list[ExpandedItem], screener: Screener) -> dict[str, list[Block]]:
    """Blocks per item id (empty list: allowed). Every text that can reach the model or be
    published is read."""
    verdicts = {item.item.id: screen_item(item, screener) for item in expanded}
    blocked = sum(1 for b in verdicts.values() if b)
    get_run_logger().info("screened %d item(s): %d blocked", len(verdicts), blocked)
    return verdicts


@dataclass
class KeyframeVerdicts:
    """Keyframe items the visual check stopped or flagged, by id (the others may go on)."""

    failed: dict[str, str] = field(default_factory=dict)  # a keyframe unreadable or too large
    blocked: dict[str, list[str]] = field(default_factory=dict)
    review: dict[str, list[str]] = field(default_factory=dict)  # a person must approve


@task(name="check-keyframes", timeout_seconds=3600, cache_policy=NO_CACHE)
def check_keyframes(items: list[Item], settings: Settings) -> KeyframeVerdicts:
    """Every keyframe of every keyframe item fetched, read within bounds and judged by the
    visual classifiers, before any GPU time: the shots start (and may end) on them. Fails
    closed: an image that cannot be fetched or read fails its item, and a classifier that
    cannot judge sends the item to a person."""
    from moderation.item_review import classifiers_for
    from moderation.keyframes import (
        MAX_KEYFRAME_BYTES,
        KeyframeError,
        read_keyframe,
        screen_keyframes,
    )
    from moderation.policy import policy_from
    from wanflow.limits import MAX_IMAGE_PIXELS
    from wanflow.storage import ObjectNotFoundError

    store, verdicts, logger = storage(settings), KeyframeVerdicts(), get_run_logger()
    for item in items:
        keys_, name = item.images or [], "keyframes"
        try:
            with tempfile.TemporaryDirectory(prefix="wanflow-keyframes-") as tmp:
                pictures = []
                for k, key in enumerate(keys_, start=1):
                    name = f"keyframe {k} ({key})"
                    size = store.stat(key).size  # refused before it is downloaded
                    if size > MAX_KEYFRAME_BYTES:
                        raise KeyframeError(
                            f"{name} is {size / 2**20:.1f} MiB; the limit is "
                            f"{MAX_KEYFRAME_BYTES / 2**20:g}"
                        )
                    path = store.download(key, Path(tmp) / f"{k}")
                    pictures.append(
                        read_keyframe(
                            path,
                            name=name,
                            max_bytes=MAX_KEYFRAME_BYTES,
                            max_pixels=MAX_IMAGE_PIXELS,
                        )
                    )
        except KeyframeError as exc:
            verdicts.failed[item.id] = f"keyframes: {exc}"
            continue
        except ObjectNotFoundError:
            verdicts.failed[item.id] = f"keyframes: {name} is not in the bucket"
            continue
        except Exception as exc:  # a fetch that failed: unchecked is never passed
            verdicts.failed[item.id] = f"keyframes: {name}: {type(exc).__name__}: {exc}"
            continue
        verdict = screen_keyframes(
            pictures,
            keys_,
            classifiers_for(settings),
            policy_from(settings.review_thresholds),
            timeout_s=settings.review_timeout_s,
        )
        if verdict.decision == "block":
            verdicts.blocked[item.id] = verdict.reasons
        elif verdict.decision == "review":
            verdicts.review[item.id] = verdict.reasons
    logger.info(
        "checked the keyframes of %d item(s): %d failed, %d blocked, %d for a person",
        len(items),
        len(verdicts.failed),
        len(verdicts.blocked),
        len(verdicts.review),
    )
    return verdicts


@task(name="plan-shots", timeout_seconds=600, cache_policy=NO_CACHE)
def plan_shots(
    expanded: list[ExpandedItem],
    catalogue: Catalogue,
    time_budget_s: float | None,
    settings: Settings,
) -> Outcome:
    """Shot plans for the items screening let through."""
    # One model load per worker batch, shared by the manifest's items.
    planner = catalogue.planner(
        settings, time_budget_s=time_budget_s, load_share=1 / max(1, len(expanded))
    )
    outcome = Outcome()
    for item in expanded:
        try:
            outcome.ok[item.item.id] = planner.plan(item)
        except Exception as exc:
            outcome.failed[item.item.id] = f"plan: {type(exc).__name__}: {exc}"
    return outcome


@task(name="write-plans", timeout_seconds=900, cache_policy=NO_CACHE, **RETRIES)
def write_plans(run_id: str, plans: list[ShotPlan], settings: Settings) -> dict[str, str]:
    """``work/<run>/<item>/plan.json`` per item: the hand-off to the generation stage.

    Rewriting is harmless (same content, same key), so a retry after a transient fault simply
    writes them all again.
    """
    store, written = storage(settings), {}
    for plan in plans:
        key = keys.work_key(run_id, plan.item_id, "plan.json")
        body = plan.model_dump_json(indent=2).encode()
        store.put_bytes(key, body, content_type="application/json")
        written[plan.item_id] = key
    return written
