"""Bearer tokens on every API path, with scopes.

- ``submit``: submit jobs, and read and cancel the jobs it submitted (another token's jobs are
  reported as not found, so their ids leak nothing);
- ``read``: read every job; submit and cancel nothing;
- ``review``: what ``read`` may (a reviewer sees what is waiting), plus the review pages' API
  use;
- any valid token: ``/v1/health`` and ``/v1/ready``.

A missing or unknown token is 401 with ``WWW-Authenticate: Bearer``; a known token without the
scope is 403. The token's secret is never logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.errors import ApiError
from wanflow.access import Token

_bearer = HTTPBearer(auto_error=False, description="a token from `wanflow tokens create`")
READ_SCOPES = ("read", "review", "submit")  # submit reads only its own jobs


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = 'Bearer realm="wanflow"' + (f', error="{error}"' if error else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def require(*scopes: str) -> Callable:
    """A dependency returning the request's token when it has one of ``scopes`` (any scope
    when none are given)."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Token:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        access = request.app.state.access
        token = await run_in_threadpool(access.verify_token, credentials.credentials)
        if token is None:
            raise _unauthorized("the token is not valid (unknown or revoked)", "invalid_token")
        if scopes and token.scope not in scopes:
            raise ApiError(
                403,
                "forbidden",
                f"the token's scope {token.scope!r} does not allow this; it needs "
                + " or ".join(repr(s) for s in scopes),
            )
        return token

    return check
