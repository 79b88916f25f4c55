"""A TCP proxy that injects network faults in front of a real server, one plan step per connection.

Steps: ``"reset"`` closes the client connection without a reply (the client sees a reset or a
dropped connection), ``"503"`` answers with HTTP 503, ``"pass"`` forwards bytes both ways. When
the plan runs out every connection passes.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import deque


class FaultProxy:
    def __init__(self, target_port: int, plan: list[str]):
        self.target = ("127.0.0.1", target_port)  # may be changed: a server moved elsewhere
        self.plan = deque(plan)
        self.served: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            step = self.plan.popleft() if self.plan else "pass"
            self.served.append(step)
            threading.Thread(target=self._handle, args=(client, step), daemon=True).start()

    def _handle(self, client: socket.socket, step: str) -> None:
        if step == "reset":
            client.recv(65536)
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if step == "503":
            client.recv(65536)
            body = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
            client.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                b"Connection: close\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target)
        except OSError:  # the server is down: the client sees the connection dropped
            client.close()
            return
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
