"""A ``wanflow gpu-worker`` whose renderer never finishes a shot whose prompt contains GATE:
how a test kills a GPU worker in the middle of a shot, not before or after it.

    python -m tests.fleet_worker GATE MARKER [gpu-worker options...]

MARKER is written when the gated shot starts (the test waits for it, then sends SIGKILL).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path


def main() -> None:
    gate, marker, *options = sys.argv[1:]

    from generation.render import Renderer
    from tasks.generate import use_renderer

    class Gated(Renderer):
        def render(self, spec, request, progress=None):
            if gate in request.prompt:
                Path(marker).write_text(request.prompt, encoding="utf-8")
                threading.Event().wait()  # until killed
            return super().render(spec, request, progress=progress)

    use_renderer(Gated)
    from cli.main import app

    app(["gpu-worker", *options], prog_name="wanflow")


if __name__ == "__main__":
    main()
