"""``wanflow expand`` and ``wanflow screen``: the prompt stage, one command each, for operators
who tune lexicons, presets and blacklists and want to see what an item would become."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, fail, load_settings, out


def expand(
    source: Annotated[str, typer.Argument(help="A manifest file, or the text of one prompt.")],
    fields: Annotated[
        list[str] | None,
        typer.Option(
            "--set", "-s", help="FIELD=VALUE for a TEXT item, e.g. -s 风格=油画 -s narration=…"
        ),
    ] = None,
    lexicon: Annotated[
        Path | None, typer.Option(help="An operator lexicon (TOML) to merge over the shipped one.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(help="GPU seconds per item for the preset chooser.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per item.")] = False,
) -> None:
    """Show the structured prompts and shot plan each item would produce (nothing is uploaded)."""
    from generation.catalogue import build_catalogue
    from generation.lexicon import LexiconError
    from generation.presets import PresetError

    settings = load_settings()
    if budget is not None and not 0 < budget < float("inf"):
        raise fail(f"--budget {budget}: use a positive number of GPU seconds", 2)
    try:
        text = lexicon.read_text("utf-8") if lexicon else None
        catalogue = build_catalogue(settings, lexicon_text=text, lexicon_source=str(lexicon))
    except (OSError, UnicodeDecodeError, LexiconError, PresetError) as exc:
        raise fail(str(exc), 2) from exc
    items = _items(source, fields or [], settings, catalogue)
    planner = catalogue.planner(settings, time_budget_s=budget)
    for item in items:
        expanded = catalogue.expand(item)
        plan = planner.plan(expanded)
        if as_json:
            payload = {
                "item": item.id,
                "language": expanded.lang,
                "prompt": expanded.main.prompt,
                "parts": expanded.main.parts,
                "negative_prompt": expanded.main.negative_prompt,
                "plan": plan.model_dump(mode="json"),
            }
            print(json.dumps(payload, ensure_ascii=False))
            continue
        _print_plan(item.id, expanded.main.prompt, plan)


def _items(source: str, fields: list[str], settings, catalogue) -> list:
    from pydantic import ValidationError
    from rich.markup import escape  # a manifest's text is not markup

    from wanflow.ingest import ingest_with_settings
    from wanflow.manifest import Item, canonical_field, derive_id
    from wanflow.readers import ManifestError

    path = Path(source)
    try:
        is_file = path.is_file()
    except OSError:  # a long TEXT is no file name
        is_file = False
    if is_file:
        if fields:
            raise fail("--set applies to a TEXT prompt, not to a manifest file", 2)
        try:
            result = ingest_with_settings(path, settings, check=catalogue.check_item)
        except ManifestError as exc:
            raise fail(f"{path}: cannot be read as a manifest: {escape(str(exc))}", 2) from exc
        for r in result.summary.rejected:
            err.print(
                f"[yellow]row {r.row} ({escape(r.id or '?')}) {escape(r.field)}:[/yellow] "
                f"{escape(r.error)}",
                highlight=False,
            )
        return result.items
    values: dict[str, str] = {"prompt": source}
    for pair in fields:
        key, sep, value = pair.partition("=")
        name = canonical_field(key)
        if not sep or name is None:
            raise fail(f"--set {pair!r}: use FIELD=VALUE with an item field (e.g. style=油画)", 2)
        values[name] = value
    values.setdefault("id", derive_id(values))
    try:
        item = Item.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", 2) from exc
    problems = catalogue.check_item(item)
    if problems:
        raise fail("; ".join(f"{name}: {message}" for name, message in problems), 2)
    return [item]


def _print_plan(item_id: str, prompt: str, plan) -> None:
    from rich.markup import escape  # prompts and narration are text, not markup

    p = plan.params
    out.print(
        f"[bold]{item_id}[/bold] ({plan.language}, seed {plan.seed}): {p.preset} → {p.model} "
        f"{p.width}x{p.height} @ {p.fps} fps, {p.steps} steps, guidance {p.guidance}"
        + (f"/{p.guidance_2}" if p.guidance_2 is not None else "")
        + f", shift {p.shift}, {p.solver}",
        highlight=False,
    )
    out.print(f"prompt: {escape(prompt)}", highlight=False)
    for shot in plan.shots:
        into = f" → {shot.transition}" if shot.transition else ""
        out.print(
            f"[bold]shot {shot.index}[/bold] · {shot.duration_s:.2f} s · {shot.num_frames} "
            f"frames · seed {shot.seed}{into}",
            highlight=False,
        )
        if shot.start_image:
            end = "pinned" if shot.end_pinned else "not pinned: the model takes a first frame only"
            out.print(
                f"  keyframes: {escape(shot.start_image)} → {escape(shot.end_image or '')} "
                f"(end {end})",
                highlight=False,
            )
        if shot.narration:
            out.print(f"  narration: {escape(shot.narration)}", highlight=False)
        out.print(f"  prompt: {escape(shot.prompt)}", highlight=False)
    out.print(f"negative: {escape(plan.shots[0].negative_prompt)}", highlight=False)
    if plan.estimate:
        e = plan.estimate
        out.print(
            f"estimate on {e.gpu}: {e.total_s:.0f} s (denoise {e.denoise_s:.0f}, decode "
            f"{e.decode_s:.0f}, load {e.load_s:.0f})",
            highlight=False,
        )
    for warning in plan.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)


def screen(
    texts: Annotated[
        list[str], typer.Argument(help="Texts to screen; '-' reads lines from stdin.")
    ],
    blacklist: Annotated[
        list[Path] | None, typer.Option("--blacklist", help="Blacklist file (repeatable).")
    ] = None,
    allowlist: Annotated[
        list[Path] | None, typer.Option("--allowlist", help="Allowlist file (repeatable).")
    ] = None,
    no_defaults: Annotated[
        bool, typer.Option("--no-defaults", help="Use only the files given, not the shipped lists.")
    ] = False,
) -> None:
    """Screen texts against the blacklists: one JSON object per text on stdout, in input order.

    Exit 0 when every text is allowed, 1 when any is blocked, 2 on a bad list file.
    """
    from moderation import ListError, Screener

    try:
        screener = Screener.from_files(blacklist or [], allowlist or [], defaults=not no_defaults)
    except (OSError, ListError) as exc:
        raise fail(str(exc), 2) from exc
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    blocked = False
    for text in texts:
        result = screener.screen(text)
        blocked |= not result.allowed
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    raise typer.Exit(1 if blocked else 0)
