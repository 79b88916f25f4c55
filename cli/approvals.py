"""``wanflow approvals``: the runs waiting for a reviewer, and deciding them from a shell.

Both talk to the Prefect server the runs report to (``PREFECT_API_URL``). Decisions are checked
against what the run asked for before it is resumed; the flow then logs them in its audit log.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cli.console import err, fail, out

app = typer.Typer(help="Runs waiting for a reviewer: list them, decide them.", no_args_is_help=True)

_DECIDE_USAGE = (
    "wanflow approvals decide FLOW_RUN_ID [--approve ID ...] [--reject ID ...] "
    "[--comment TEXT] [--reviewer NAME]"
)


def _api() -> None:
    """An ephemeral API would be a new, empty server: refuse instead of listing nothing."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise fail(
            "set PREFECT_API_URL to the Prefect server the runs report to "
            "(e.g. http://prefect.internal:4200/api)",
            2,
        )


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, links included.")] = False,
    links: Annotated[
        bool, typer.Option("--links", help="Add each item's contact sheet and clip links.")
    ] = False,
) -> None:
    """The runs waiting for a decision: per item its title, verdict and why, in a few words."""
    _api()
    from flows.approve import waiting_runs

    waiting = waiting_runs()
    if as_json:
        payload = [
            {"flow_run_id": str(run.id), "state": run.state.name, **request.model_dump(mode="json")}
            for run, request in waiting
        ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if not waiting:
        err.print("no run is waiting for a decision")
        return
    for run, request in waiting:
        out.print(_waiting_run(run, request), highlight=False, soft_wrap=False)
        if links:  # whole, never folded: a link is for copying
            for line in _links(request):
                out.print(line, soft_wrap=True, highlight=False, markup=False)
        out.print()


def _waiting_run(run, request) -> Group:
    """A run as a reader at 80 columns wants it: the run id first (to copy into ``decide``),
    then one row per item with the reasons in a few words; links only when asked for."""
    from moderation.approval import brief

    heading = Text.assemble(
        (str(run.id), "bold"),
        f"  {run.state.name}\n{request.manifest} · round {request.round} · until "
        f"{request.deadline:%Y-%m-%d %H:%M} UTC",
    )
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    table.add_column("item", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why", overflow="fold")
    for item in request.items:
        # Text, not strings: rich would read "[link=…]" or "[/]" in a title as its markup.
        cells = (item.id, item.title or "", item.verdict, brief(item.reasons))
        table.add_row(*(Text(cell) for cell in cells))
    return Group(heading, table)


def _links(request) -> list[str]:
    lines = [f"details: {request.details_url}"] if request.details_url else []
    for item in request.items:
        urls = [("finished video", item.video_url)] if item.video_url else []
        urls += [("contact sheet", item.sheet_url)] if item.sheet_url else []
        urls += [(f"shot {n} clip", url) for n, url in sorted(item.clip_urls.items())]
        lines += [f"{item.id} {name}: {url}" for name, url in urls]
    return lines


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def decide(ctx: typer.Context) -> None:
    """Approve or reject items of a waiting run, and resume it.

    wanflow approvals decide FLOW_RUN_ID [--approve ID ...] [--reject ID ...] [--comment TEXT]
    [--reviewer NAME]. Items not named keep waiting. Exit 0: the run was resumed; 2: the
    decision does not fit the run (unknown item, run not waiting); 1: the server refused.
    """
    from flows.decide import DecisionError, DecisionRefused, decide_run

    args = _decide_parser().parse_args(ctx.args)
    _api()
    reviewer = args.reviewer or os.environ.get("WANFLOW_REVIEWER") or _whoami()
    try:
        decided = decide_run(args.flow_run_id, args.approve, args.reject, reviewer, args.comment)
    except DecisionError as exc:
        raise fail(str(exc), 2) from exc
    except DecisionRefused as exc:  # the server validates the input against the form too
        raise fail(f"the server refused the decision: {exc}") from exc
    flow_run_id, request, choices = decided.flow_run_id, decided.request, decided.choices
    for decision, done in (("approve", "approved"), ("reject", "rejected")):
        named = [i for i, c in choices.items() if c == decision]
        if named:
            out.print(f"{done}: {', '.join(named)}", highlight=False)
    waiting = [i for i in request.ids if i not in choices]
    if waiting:
        out.print(f"still waiting: {', '.join(waiting)}", highlight=False)
    err.print(f"resumed {flow_run_id} as {reviewer}")


def _decide_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wanflow approvals decide", usage=_DECIDE_USAGE)
    parser.add_argument("flow_run_id", help="the waiting run (see `wanflow approvals list`)")
    parser.add_argument(
        "--approve", nargs="+", action="extend", default=[], metavar="ID", help="approve items"
    )
    parser.add_argument(
        "--reject", nargs="+", action="extend", default=[], metavar="ID", help="reject items"
    )
    parser.add_argument("--comment", default="", help="why; logged with every decision")
    parser.add_argument(
        "--reviewer", default="", help="who decides (default: $WANFLOW_REVIEWER or user@host)"
    )
    return parser


def _whoami() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
