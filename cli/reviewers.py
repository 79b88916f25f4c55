"""``wanflow reviewers``: the accounts that may log in to the review pages (``/review``).

Accounts live in the bucket (only a salted scrypt hash of each password), so every service
process sees a change at once. A password is never an argument (it would sit in the shell's
history and the process list): it is prompted for, or read from stdin with ``--password-stdin``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli.console import err, fail, load_settings, open_storage, out

app = typer.Typer(help="Reviewer accounts of the review pages.", no_args_is_help=True)


def _access():
    from wanflow.access import Access

    store = open_storage(load_settings())
    store.ensure_bucket()
    return Access(store)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The account name (shown in the audit log).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Set a new password for an existing account.")
    ] = False,
) -> None:
    """Add a reviewer account (or, with --replace, change its password)."""
    from wanflow.access import AccessError
    from wanflow.storage import StorageError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        _access().add_reviewer(name, password, replace=replace)
    except AccessError as exc:
        raise fail(str(exc), 2) from exc
    except StorageError as exc:
        raise fail(str(exc)) from exc
    err.print(f"reviewer {name} {'updated' if replace else 'added'}", highlight=False, markup=False)


@app.command("list")
def list_() -> None:
    """The reviewer accounts, with when each was made."""
    from wanflow.storage import StorageError

    try:
        reviewers = _access().reviewers()
    except StorageError as exc:
        raise fail(str(exc)) from exc
    if not reviewers:
        err.print("no reviewer accounts: add one with `wanflow reviewers add NAME`")
        return
    table = Table("name", "created", box=None, pad_edge=False, header_style="dim")
    for reviewer in reviewers:
        table.add_row(Text(reviewer.name), f"{reviewer.created:%Y-%m-%d %H:%M} UTC")
    out.print(table)


@app.command()
def remove(name: Annotated[str, typer.Argument(help="The account to remove.")]) -> None:
    """Remove a reviewer account; its open sessions end within 30 s."""
    from wanflow.access import AccessError
    from wanflow.storage import StorageError

    try:
        _access().remove_reviewer(name)
    except AccessError as exc:
        raise fail(str(exc), 2) from exc
    except StorageError as exc:
        raise fail(str(exc)) from exc
    err.print(f"reviewer {name} removed", highlight=False, markup=False)
