"""Server-side sessions for the review pages, with a CSRF synchroniser token in each, and a
throttle on failed logins.

The cookie holds only a random session id; who is logged in, the CSRF token and the expiry stay
in this process, so that logging out or restarting the service ends every session at once and a
stolen cookie is worth nothing after its lifetime. A visitor who is not logged in gets a
pre-session too: the login form's CSRF token is tied to it, and logging in replaces it with a new
id (a session id planted before the login is worth nothing after it).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "wanflow_review"
PRE_SESSION_S = 3600  # long enough to fill in the login form
MAX_SESSIONS = 10_000  # a flood of anonymous visits cannot grow the table without bound


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    user: str | None = None
    flash: list[str] = field(default_factory=list)

    def csrf_ok(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


class Sessions:
    """The sessions of one service process; thread-safe (handlers run in a thread pool)."""

    def __init__(
        self,
        lifetime_s: float,
        *,
        pre_session_s: float = PRE_SESSION_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lifetime_s, self.pre_session_s = lifetime_s, pre_session_s
        self.max_sessions, self.clock = max_sessions, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, or None (unknown, or expired: then it is dropped)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires <= self.clock():
                del self._sessions[session_id]
                return None
            return session

    def anonymous(self) -> Session:
        """A pre-session for the login form."""
        return self._new(None, self.pre_session_s)

    def log_in(self, previous: Session | None, user: str) -> Session:
        """A new session for ``user``, under a new id and CSRF token; ``previous`` ends."""
        if previous is not None:
            self.end(previous.id)
        return self._new(user, self.lifetime_s)

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _new(self, user: str | None, lifetime_s: float) -> Session:
        now = self.clock()
        session = Session(
            id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), expires=now + lifetime_s
        )
        session.user = user
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._drop_some(now)
            self._sessions[session.id] = session
        return session

    def _drop_some(self, now: float) -> None:
        """Expired sessions first; then the anonymous ones closest to expiry (a flood of
        visits pushes out visits, never a reviewer's session)."""
        for sid in [s.id for s in self._sessions.values() if s.expires <= now]:
            del self._sessions[sid]
        if len(self._sessions) < self.max_sessions:
            return
        anonymous = sorted(
            (s for s in self._sessions.values() if s.user is None), key=lambda s: s.expires
        )
        for session in anonymous[: max(1, len(anonymous) // 10)]:
            del self._sessions[session.id]

    def __len__(self) -> int:
        return len(self._sessions)


class Accounts:
    """The account names that may still be logged in, read through ``fetch`` at most every
    ``ttl_s``: an account removed in another process (``wanflow reviewers remove``) loses its
    sessions within that time."""

    def __init__(
        self, fetch: Callable[[], set[str]], ttl_s: float = 30, clock=time.monotonic
    ) -> None:
        self.fetch, self.ttl_s, self.clock = fetch, ttl_s, clock
        self._names: set[str] = set()
        self._until = float("-inf")
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        with self._lock:
            if self.clock() >= self._until:
                self._names = set(self.fetch())
                self._until = self.clock() + self.ttl_s
            return name in self._names

    def forget(self) -> None:
        """Read the accounts again on the next question (after a login)."""
        with self._lock:
            self._until = float("-inf")


class Throttle:
    """Failed logins per key (an account name, a client address): after ``limit`` failures
    within ``window_s`` the key is refused until the oldest of them is ``window_s`` old."""

    def __init__(
        self, limit: int = 5, window_s: float = 900, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, []) if t > now - self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def allowed(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            return all(len(self._recent(k, now)) < self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_SESSIONS:  # bounded: forget the stalest keys
                for stale in list(self._failures)[: MAX_SESSIONS // 10]:
                    del self._failures[stale]
            for key in keys:
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


__all__ = ["COOKIE", "Accounts", "Session", "Sessions", "Throttle"]
