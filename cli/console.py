"""What every ``wanflow`` command prints through (rich consoles, errors with an exit status), and
the one settings object a command reads and hands to whatever it calls.

Results go to stdout (tables, or JSON that scripts parse), everything else to stderr.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from wanflow.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned ``typer.Exit``."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_settings() -> Settings:
    """The settings of this command, read once from the environment and ``wanflow.toml``, or
    exit 2 naming what is wrong with them. A command passes them on as an argument, or to the
    flows it runs in process through :func:`wanflow.settings.settings_scope`."""
    try:
        return Settings()
    except Exception as exc:
        raise fail(f"invalid settings: {exc}", 2) from exc


def override(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with command-line ``changes``, validated as the environment's values are
    (``model_copy(update=)`` alone would take any value), or exit 2 as for a bad environment;
    secrets stay ``SecretStr``. Only the changed fields join ``model_fields_set``, which still
    tells what the operator set."""
    try:
        checked = Settings.model_validate({**settings.model_dump(), **changes})
    except Exception as exc:
        raise fail(f"invalid settings: {exc}", 2) from exc
    return settings.model_copy(update={name: getattr(checked, name) for name in changes})


def open_storage(settings: Settings):
    """The bucket's client, or exit 2 when the settings cannot make one."""
    from wanflow.storage import Storage, StorageError

    try:
        return Storage.from_settings(settings)
    except StorageError as exc:
        raise fail(str(exc), 2) from exc
