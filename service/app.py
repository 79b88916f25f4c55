"""The web service: the ``/v1`` API for developers and the ``/review`` pages for reviewers.

The OpenAPI description (``/openapi.json``) and its browsable form (``/docs``) are public: they
describe the API's shape and hold no data; every API path needs a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from service import api, errors, review
from service.jobs import Jobs
from wanflow import __version__
from wanflow.access import Access
from wanflow.settings import Settings

DEFAULT_MAX_BODY = 16 * 2**20


def create_app(
    settings: Settings,
    storage: Any,
    access: Access | None = None,
    *,
    check: Callable | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The service for one bucket. ``check`` is the row check the flow applies (vocabulary,
    presets); by default the one the settings build, as ``wanflow validate`` uses."""
    if check is None:
        from generation.catalogue import build_catalogue

        check = build_catalogue(settings).check_item
    access = access or Access(storage)
    app = FastAPI(
        title="Wanflow",
        version=__version__,
        description="Submit prompt manifests as jobs; follow them; fetch the published "
        "videos. Every /v1 path needs `Authorization: Bearer <token>` "
        "(`wanflow tokens create NAME --scope submit|read|review`).",
    )
    app.state.settings, app.state.storage, app.state.access = settings, storage, access
    app.state.jobs = Jobs(settings, storage, check)
    errors.install(app)

    @app.middleware("http")
    async def no_store(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith("/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(api.router(max_body_bytes))
    app.include_router(review.router_for(settings, storage, access))
    return app
