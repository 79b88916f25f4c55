"""The review pages (``/review``): reviewers log in, see every held item of every waiting run,
watch the finished video beside the contact sheet, and approve or reject.

A decision goes through :func:`flows.decide.decide_run`, the path ``wanflow approvals decide``
takes: the run is resumed with the logged-in account as the reviewer, and the flow logs that
name in its audit log. Prefect's own form keeps working beside these pages.

Every page is rendered server-side with Jinja2's autoescape on; every form carries the session's
CSRF token; form bodies are read up to ``MAX_FORM_BYTES``; pages send a strict Content Security
Policy (no inline script: the keyboard shortcuts live in ``static/review.js``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from flows.approve import waiting_runs
from flows.decide import DecisionError, DecisionRefused, decide_run, waiting_request
from moderation.approval import brief
from service.review_items import MediaCache, QueueRow, item_media, queue, stream
from service.sessions import COOKIE, Accounts, Session, Sessions, Throttle
from tasks.prefect_runs import prefect_settings_here
from wanflow.settings import Settings
from wanflow.storage import ObjectNotFoundError

HERE = Path(__file__).resolve().parent
STATIC = {"review.css": "text/css", "review.js": "text/javascript"}
MAX_FORM_BYTES = 16 * 1024
MAX_COMMENT = 2000
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
WRONG_LOGIN = "Wrong name or password."

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["brief"] = brief
_templates.filters["utc"] = lambda t: f"{t:%Y-%m-%d %H:%M} UTC" if t else ""


def router_for(
    settings: Settings,
    storage: Any,
    access: Any,
    *,
    sessions: Sessions | None = None,
    throttle: Throttle | None = None,
) -> APIRouter:
    """The review pages under ``/review``. ``access`` checks reviewers' passwords
    (``verify_reviewer(name, password)``); ``storage`` is the bucket the runs write to."""
    sessions = Sessions(settings.review_session_s) if sessions is None else sessions
    throttle = Throttle() if throttle is None else throttle
    prefect = prefect_settings_here()  # the Prefect API of the process that built the router
    media_cache = MediaCache()
    router = APIRouter(prefix="/review", include_in_schema=False)
    accounts = Accounts(lambda: {r.name for r in access.reviewers()})

    # --- sessions and forms ---------------------------------------------------------------

    def current(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(COOKIE))

    def reviewer(request: Request) -> Session | None:
        """The logged-in reviewer's session, while the account still exists; None otherwise."""
        session = current(request)
        if session is None or session.user is None:
            return None
        if session.user not in accounts:
            sessions.end(session.id)
            return None
        return session

    def page(
        name: str,
        request: Request,
        session: Session | None,
        status: int = 200,
        set_cookie: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        flash = session.flash[:] if session else []
        if session:
            session.flash.clear()
        html = _templates.get_template(name).render(
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            flash=flash,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        if set_cookie and session:
            remember(response, request, session)
        return response

    def remember(response: Response, request: Request, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(session.expires - sessions.clock()),
            path="/review",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def to_login(request: Request, expired: bool) -> RedirectResponse:
        where = "/review/login?expired=1" if expired else "/review/login"
        response = RedirectResponse(where, status_code=303, headers=PAGE_HEADERS)
        if expired:
            response.delete_cookie(COOKIE, path="/review")
        return response

    def refused(request: Request, status: int, message: str) -> HTMLResponse:
        session = current(request)
        return page("message.html", request, session, status=status, message=message)

    async def form(request: Request) -> dict[str, str]:
        """A urlencoded form body, read up to ``MAX_FORM_BYTES`` (413 beyond)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise HTTPException(415, "a form is expected")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise HTTPException(413, "form too large")
        if body and not kind:
            raise HTTPException(415, "a form is expected")
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPException(400, "unreadable form") from exc
        return {name: values[0] for name, values in fields.items()}

    def rows() -> list[QueueRow]:
        with prefect():
            return queue(waiting_runs())

    # --- logging in and out ---------------------------------------------------------------

    @router.get("/login")
    def login_page(request: Request, expired: int = 0) -> Response:
        session = current(request)
        if session and session.user:
            return RedirectResponse("/review", status_code=303, headers=PAGE_HEADERS)
        fresh = session is None
        session = session or sessions.anonymous()
        note = "Your session has ended: log in again." if expired else None
        return page("login.html", request, session, set_cookie=fresh, note=note)

    @router.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        session = current(request)
        if session is None or not session.csrf_ok(fields.get("csrf")):
            return refused(request, 403, "The form has expired: reload the page and try again.")
        name = fields.get("name", "").strip()[:200]
        password = fields.get("password", "")[:1000]
        client = request.client.host if request.client else "unknown"
        keys = (f"name:{name.casefold()}", f"client:{client}")
        if not throttle.allowed(*keys):
            message = "Too many failed logins: wait a few minutes and try again."
            return page("login.html", request, session, status=429, error=message, typed=name)
        ok = bool(name) and await run_in_threadpool(access.verify_reviewer, name, password)
        if not ok:
            throttle.failed(*keys)
            return page("login.html", request, session, status=401, error=WRONG_LOGIN, typed=name)
        throttle.succeeded(keys[0])
        session = sessions.log_in(session, name)
        accounts.forget()
        response = RedirectResponse("/review", status_code=303, headers=PAGE_HEADERS)
        remember(response, request, session)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        fields = await form(request)
        session = current(request)
        if session is None:
            return to_login(request, expired=False)
        if not session.csrf_ok(fields.get("csrf")):
            return refused(request, 403, "The form has expired: reload the page and try again.")
        sessions.end(session.id)
        response = RedirectResponse("/review/login", status_code=303, headers=PAGE_HEADERS)
        response.delete_cookie(COOKIE, path="/review")
        return response

    # --- the queue and the items ----------------------------------------------------------

    @router.get("")
    def queue_page(request: Request) -> Response:
        session = reviewer(request)
        if session is None:
            return to_login(request, expired=COOKIE in request.cookies)
        return page("queue.html", request, session, rows=rows())

    @router.get("/item/{flow_run_id}/{item_id}")
    def item_page(request: Request, flow_run_id: str, item_id: str) -> Response:
        session = reviewer(request)
        if session is None:
            return to_login(request, expired=COOKIE in request.cookies)
        everything = rows()
        at = _index(everything, flow_run_id, item_id)
        if at is None:
            return page(
                "message.html", request, session, status=404,
                message=f"{item_id} is not waiting for a decision now: decided, timed out, or "
                "its run is reading a decision on another of its items (reload in a moment).",
            )  # fmt: skip
        row = everything[at]
        media = item_media(storage, row.request, item_id)
        media_cache.put(flow_run_id, item_id, media)
        before = everything[at - 1] if at > 0 else None
        after = everything[at + 1] if at + 1 < len(everything) else None
        return page(
            "item.html", request, session, row=row, media=media, before=before, after=after,
            position=at + 1, total=len(everything),
        )  # fmt: skip

    @router.post("/item/{flow_run_id}/{item_id}")
    async def decide(request: Request, flow_run_id: str, item_id: str) -> Response:
        fields = await form(request)
        session = await run_in_threadpool(reviewer, request)  # may read the accounts
        if session is None:
            return refused(request, 401, "Your session has ended: log in again to decide.")
        if not session.csrf_ok(fields.get("csrf")):
            return refused(request, 403, "The form has expired: reload the page and try again.")
        choice = fields.get("decision")
        if choice not in ("approve", "reject"):
            return refused(request, 400, "Choose approve or reject.")
        comment = " ".join(fields.get("comment", "").split())[:MAX_COMMENT]
        approve, reject = ([item_id], []) if choice == "approve" else ([], [item_id])
        following = await run_in_threadpool(_next_after, rows, flow_run_id, item_id)

        def send():
            with prefect():
                return decide_run(flow_run_id, approve, reject, session.user, comment)

        try:
            await run_in_threadpool(send)
        except (DecisionError, DecisionRefused) as exc:
            return refused(request, 409, f"Not decided: {exc}")
        done = "approved" if choice == "approve" else "rejected"
        session.flash.append(f"{done} {item_id} as {session.user}")
        where = f"/review/{following.path}" if following else "/review"
        return RedirectResponse(where, status_code=303, headers=PAGE_HEADERS)

    @router.get("/media/{flow_run_id}/{item_id}/{name}")
    def media(request: Request, flow_run_id: str, item_id: str, name: str) -> Response:
        session = reviewer(request)
        if session is None:
            raise HTTPException(401, "log in first")
        kind = MEDIA_TYPES.get(Path(name).suffix)
        found = media_cache.get(flow_run_id, item_id)
        if found is None:
            try:
                with prefect():
                    _, request_ = waiting_request(flow_run_id)
            except DecisionError as exc:
                raise HTTPException(404, "not waiting") from exc
            if item_id not in request_.ids:
                raise HTTPException(404, "not waiting")
            found = item_media(storage, request_, item_id)
            media_cache.put(flow_run_id, item_id, found)
        key = found.key(name)
        if key is None or kind is None:
            raise HTTPException(404, "no such file")
        try:
            return stream(storage, key, request.headers.get("range"), kind)
        except ObjectNotFoundError as exc:  # the report names it, the bucket lost it
            raise HTTPException(404, "no such file") from exc

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404)
        body = (HERE / "static" / name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})

    return router


def _next_after(rows, flow_run_id: str, item_id: str) -> QueueRow | None:
    """Where the reviewer goes on after deciding: the next item of another run (this run's
    other items come back in a new round once the run has read the decision), or None."""
    everything = rows()
    at = _index(everything, flow_run_id, item_id)
    at = len(everything) if at is None else at
    later = everything[at + 1 :] + everything[:at]
    return next((r for r in later if r.flow_run_id != flow_run_id), None)


def _index(rows: list[QueueRow], flow_run_id: str, item_id: str) -> int | None:
    return next(
        (n for n, r in enumerate(rows) if (r.flow_run_id, r.item.id) == (flow_run_id, item_id)),
        None,
    )


__all__ = ["router_for"]
