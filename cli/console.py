"""What every ``wanflow`` command prints through: rich consoles, errors with an exit status.

Results go to stdout (tables, or JSON that scripts parse), everything else to stderr.
"""

from __future__ import annotations

import typer
from rich.console import Console

from wanflow.settings import Settings, get_settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned ``typer.Exit``."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_settings() -> Settings:
    """The settings, or exit 2 naming what is wrong with them."""
    try:
        return get_settings()
    except Exception as exc:
        raise fail(f"invalid settings: {exc}", 2) from exc
