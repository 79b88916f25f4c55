"""``wanflow tokens``: the API tokens of the bucket's web service."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.console import err, fail, load_settings, out
from cli.storage import endpoint

app = typer.Typer(help="API tokens of the web service (`wanflow serve`).", no_args_is_help=True)


def _access(stack_settings):
    from cli.console import open_storage
    from wanflow.access import Access

    store = open_storage(stack_settings)
    store.ensure_bucket()
    return Access(store)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the token (who or what uses it).")],
    scope: Annotated[
        str,
        typer.Option(
            help="submit: submit jobs, read and cancel its own; read: read every job; "
            "review: read, and the reviewers' API use."
        ),
    ] = "read",
) -> None:
    """Create a token and print it: it is shown this once (only its hash is kept)."""
    from wanflow.access import AccessError
    from wanflow.storage import StorageError

    with endpoint(load_settings()) as settings:
        try:
            secret = _access(settings).create_token(name, scope)
        except (AccessError, StorageError) as exc:
            raise fail(str(exc), 2 if isinstance(exc, AccessError) else 1) from exc
    err.print(f"token {name!r} ({scope}) created; it is not shown again:", highlight=False)
    print(secret)


@app.command("list")
def list_tokens(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
) -> None:
    """The tokens' names, scopes and creation times (never the secrets)."""
    from wanflow.storage import StorageError

    with endpoint(load_settings()) as settings:
        try:
            tokens = _access(settings).tokens()
        except StorageError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        for t in tokens:
            print(json.dumps({"name": t.name, "scope": t.scope, "created": t.created.isoformat()}))
        return
    table = Table("name", "scope", "created")
    for t in tokens:
        table.add_row(t.name, t.scope, f"{t.created:%Y-%m-%d %H:%M} UTC")
    out.print(table)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from wanflow.access import AccessError
    from wanflow.storage import StorageError

    with endpoint(load_settings()) as settings:
        try:
            _access(settings).revoke_token(name)
        except (AccessError, StorageError) as exc:
            raise fail(str(exc), 2 if isinstance(exc, AccessError) else 1) from exc
    out.print(f"token {name!r} revoked", highlight=False)
