"""``wanflow review``: the visual review of a local video, as the flow would judge it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.console import fail, load_settings, out


def review(
    video: Annotated[Path, typer.Argument(help="A video file (MP4 …).", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    sheet: Annotated[
        Path | None, typer.Option(help="Also write the contact sheet (JPEG) here.")
    ] = None,
) -> None:
    """Sample frames, run the classifiers, and print the verdict, the highest score per
    category and the flagged timestamps. Exit 0 pass, 1 review, 3 block, 2 unreadable video."""
    from moderation.frames import check_clip
    from moderation.item_review import review_clip_file
    from wanflow.scratch import scratch
    from wanflow.video import VideoError

    settings = load_settings()
    try:
        # Before any decoding: the frames under review are held in memory at full size.
        check_clip(video, max_seconds=settings.max_duration_s)
        with scratch("review-", capture_tempfile=True):
            result = review_clip_file(video, settings)
    except (VideoError, ValueError) as exc:
        raise fail(f"{video}: {exc}", 2) from exc
    verdict = result.verdict
    if sheet is not None:
        from moderation.sheet import contact_sheet, save_jpeg

        image = contact_sheet(result.frames, flagged=result.flagged_frames(), title=video.name)
        save_jpeg(image, sheet)
    flagged = sorted({e.time_s for e in verdict.flagged})
    payload = {
        "video": str(video),
        "verdict": verdict.decision,
        "scores": verdict.top_scores(),
        "flagged_s": flagged,
        "reasons": verdict.reasons,
        "failures": verdict.failures,
        "frames": len(result.frames),
        "seconds": result.seconds,
    }
    if as_json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        out.print(f"[bold]{video}[/bold]: {verdict.decision}", highlight=False)
        for category, value in sorted(payload["scores"].items()):
            out.print(f"  {category}: {value:.3f}", highlight=False)
        if flagged:
            out.print(f"  flagged at: {', '.join(f'{t:.1f} s' for t in flagged)}")
        for reason in verdict.reasons:
            out.print(f"  {reason}", highlight=False)
    raise typer.Exit({"pass": 0, "review": 1, "block": 3}[verdict.decision])
