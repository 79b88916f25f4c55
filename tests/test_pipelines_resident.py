"""How many models a process keeps loaded: WANFLOW_RESIDENT_MODELS per device, least recently
used out first, and never a new model loaded beside the one it replaces (tiny models, CPU)."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from generation import pipelines
from generation.models import resolve_model
from generation.pipelines import load, resident_names, unload
from wanflow.settings import Settings


@pytest.fixture(scope="module")
def settings(model_dir):
    import torch

    torch.set_num_threads(1)
    return Settings(model_dir=model_dir, device="cpu")


@pytest.fixture(autouse=True)
def _nothing_resident():
    unload()
    yield
    unload()


def _spec(name, settings):
    return resolve_model(name, settings)


def test_switching_model_unloads_the_old_one_before_loading_the_new(settings, monkeypatch):
    assert settings.resident_models == 1
    first, _ = load(_spec("tiny", settings), settings, "cpu")
    assert resident_names() == ["tiny"]
    old = weakref.ref(first.pipe)
    del first

    seen_while_loading = []
    real = pipelines._load

    def watched(spec, *args, **kwargs):
        seen_while_loading.append(resident_names())
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pipelines, "_load", watched)
    second, fresh = load(_spec("tiny-t2v-a14b", settings), settings, "cpu")
    assert fresh and second.name == "tiny-t2v-a14b"
    assert seen_while_loading == [[]]  # the old model was gone before the new one loaded
    assert resident_names() == ["tiny-t2v-a14b"]
    gc.collect()
    assert old() is None, "the unloaded pipeline is still referenced somewhere"

    # Back to the first: loaded again (not kept aside), the second unloaded first.
    _, fresh = load(_spec("tiny", settings), settings, "cpu")
    assert fresh and seen_while_loading == [[], []]
    assert resident_names() == ["tiny"]


def test_with_room_for_two_the_least_recently_used_goes(settings):
    roomy = settings.model_copy(update={"resident_models": 2})
    a, b, c = (_spec(n, roomy) for n in ("tiny", "tiny-t2v-a14b", "tiny-ti2v-5b"))
    load(a, roomy, "cpu")
    load(b, roomy, "cpu")
    assert resident_names() == ["tiny", "tiny-t2v-a14b"]
    _, fresh = load(a, roomy, "cpu")  # used again: now b is the least recent
    assert not fresh and resident_names() == ["tiny-t2v-a14b", "tiny"]
    load(c, roomy, "cpu")
    assert resident_names() == ["tiny", "tiny-ti2v-5b"]
    assert resident_names("cpu") == resident_names() and resident_names("cuda") == []


class _WatchedLock:
    """A pipeline's lock that says when another thread starts waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def test_a_model_rendering_a_shot_is_unloaded_only_after_the_shot(settings, monkeypatch):
    busy, _ = load(_spec("tiny", settings), settings, "cpu")
    busy.lock = watched = _WatchedLock()
    order: list[str] = []
    real = pipelines._load

    def recorded(spec, *args, **kwargs):
        order.append(f"load {spec.name}")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pipelines, "_load", recorded)
    with watched:  # a shot renders on "tiny" (Renderer.render holds this lock meanwhile)
        loader = threading.Thread(
            target=load, args=(_spec("tiny-t2v-a14b", settings), settings, "cpu")
        )
        loader.start()
        assert watched.contended.wait(120), "the loader never waited for the shot"
        assert order == [] and resident_names() == ["tiny"]
        order.append("shot ends")
    loader.join(120)
    assert order == ["shot ends", "load tiny-t2v-a14b"]
    assert resident_names() == ["tiny-t2v-a14b"]


def test_the_renderer_reloads_a_model_it_switched_away_from(settings):
    from generation.render import Renderer
    from tests.test_generate import request

    renderer = Renderer(settings)
    tiny, experts = _spec("tiny", settings), _spec("tiny-t2v-a14b", settings)
    first = renderer.render(tiny, request(steps=2))
    other = renderer.render(experts, request(steps=2, guidance_2=3.0))
    back = renderer.render(tiny, request(steps=2))
    assert first.load_s > 0 and other.load_s > 0 and back.load_s > 0
    assert not renderer.is_resident(experts) and renderer.is_resident(tiny)
    assert (first.frames == back.frames).all()  # the same weights, loaded again
