"""Generation tests run the tiny stand-ins on one CPU thread (the machine's other core is the
suite's servers'), and share one renderer per module so its resident pipelines are reused."""

from __future__ import annotations

import pytest

from generation.render import Renderer
from wanflow.settings import Settings


@pytest.fixture(scope="module")
def settings(model_dir):
    import torch

    torch.set_num_threads(1)
    return Settings(model_dir=model_dir, device="cpu")


@pytest.fixture(scope="module")
def renderer(settings):
    return Renderer(settings)
