"""The tiny Wan stand-ins: saved once, loaded by plain diffusers, reproducible, and runnable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline, WanImageToVideoPipeline, WanPipeline
from PIL import Image

from generation import tiny
from generation.tiny import TINY_MODELS, build_tiny_pipeline, build_tiny_tokenizer, tiny_model_dir

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(TINY_MODELS)
PROMPTS = ["海怪从深海升起", "A sea monster rises", "海怪，从深海升起！ 4K, slow-motion."]

# name -> (pipeline class, boundary_ratio, has transformer_2, expand_timesteps)
EXPECTED = {
    "tiny": (WanPipeline, None, False, False),
    "tiny-t2v-a14b": (WanPipeline, 0.875, True, False),
    "tiny-i2v-a14b": (WanImageToVideoPipeline, 0.9, True, False),
    "tiny-ti2v-5b": (WanPipeline, None, False, True),
    "tiny-flf2v-14b": (WanImageToVideoPipeline, None, False, False),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The machine has 2 cores; one thread keeps timings stable and leaves one for subprocesses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One cache for the module, so each model is built once and then only loaded."""
    return tmp_path_factory.mktemp("tiny-cache")


def load(name: str, cache: Path) -> DiffusionPipeline:
    return DiffusionPipeline.from_pretrained(tiny_model_dir(name, cache), local_files_only=True)


def tree_digest(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, keyed by relative path."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def frames(pipe: DiffusionPipeline, height: int = 64, width: int = 64, num_frames: int = 9, **kw):
    return pipe(
        prompt="A sea monster rises",
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=kw.pop("steps", 2),
        output_type="np",
        generator=torch.Generator("cpu").manual_seed(0),
        **kw,
    ).frames


@pytest.mark.parametrize("name", NAMES)
def test_saved_directory_loads_as_the_right_pipeline(name, cache):
    cls, boundary_ratio, two_experts, expand = EXPECTED[name]
    path = tiny_model_dir(name, cache)
    assert path.parent == cache and path.name.startswith(name)
    assert json.loads((path / "model_index.json").read_text())["_class_name"] == cls.__name__
    assert list(path.rglob("*.safetensors")) and not list(path.rglob("*.bin"))

    pipe = load(name, cache)
    assert type(pipe) is cls
    assert pipe.config.boundary_ratio == boundary_ratio
    assert pipe.config.expand_timesteps is expand
    assert (pipe.transformer_2 is not None) is two_experts
    assert pipe.scheduler.config.use_flow_sigmas
    assert pipe.scheduler.config.prediction_type == "flow_prediction"
    assert pipe.text_encoder.config.vocab_size == len(pipe.tokenizer)
    assert pipe.vae.config.z_dim == pipe.transformer.config.out_channels
    if cls is WanImageToVideoPipeline:
        assert pipe.transformer.config.in_channels == 36
    if name == "tiny-flf2v-14b":  # Wan2.1 layout: CLIP features of the first and last frame
        assert pipe.image_encoder is not None and pipe.image_processor is not None
        tokens = pipe.image_encoder.config.image_size // pipe.image_encoder.config.patch_size
        assert pipe.transformer.config.pos_embed_seq_len == 2 * (tokens**2 + 1)
    elif cls is WanImageToVideoPipeline:
        assert pipe.image_encoder is None and pipe.image_processor is None
    if expand:
        assert pipe.vae.config.z_dim == 48 and pipe.vae.config.is_residual
    if two_experts:  # two different experts, so routing between them matters
        high, low = pipe.transformer.state_dict(), pipe.transformer_2.state_dict()
        assert high.keys() == low.keys()
        assert not torch.equal(high["proj_out.weight"], low["proj_out.weight"])


def test_second_call_reuses_the_saved_directory(tmp_path, monkeypatch):
    first = tiny_model_dir("tiny", tmp_path)
    stamp = (first / "model_index.json").stat().st_mtime_ns
    digest = tree_digest(first)

    def no_build(name):
        raise AssertionError(f"rebuilt {name}")

    monkeypatch.setattr(tiny, "build_tiny_pipeline", no_build)
    assert tiny_model_dir("tiny", tmp_path) == first
    assert (first / "model_index.json").stat().st_mtime_ns == stamp
    assert tree_digest(first) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]  # no temp left behind


def test_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    class HalfWritten:
        def save_pretrained(self, path, **kwargs):
            (Path(path) / "model_index.json").write_text("{}")
            raise RuntimeError("disk full")

    monkeypatch.setattr(tiny, "build_tiny_pipeline", lambda name: HalfWritten())
    with pytest.raises(RuntimeError, match="disk full"):
        tiny_model_dir("tiny", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_losing_a_build_race_keeps_the_winners_copy(tmp_path, monkeypatch):
    real_build = tiny.build_tiny_pipeline

    def build_while_another_process_finishes(name):
        pipe = real_build(name)
        monkeypatch.setattr(tiny, "build_tiny_pipeline", real_build)
        winner = tiny_model_dir(name, tmp_path)  # the other process renames first
        (winner / "winner").write_text("")
        return pipe

    monkeypatch.setattr(tiny, "build_tiny_pipeline", build_while_another_process_finishes)
    path = tiny_model_dir("tiny", tmp_path)
    assert (path / "winner").exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_incomplete_directory_is_not_taken_for_a_model(tmp_path):
    final = tiny_model_dir("tiny", tmp_path)
    (final / "model_index.json").unlink()
    with pytest.raises(FileExistsError):
        tiny_model_dir("tiny", tmp_path)


_CHILD = """
import json, sys
from pathlib import Path
from generation.tiny import TINY_MODELS, build_tiny_tokenizer, tiny_model_dir
own, shared = Path(sys.argv[1]), Path(sys.argv[2])
dirs = {name: str(tiny_model_dir(name, own)) for name in TINY_MODELS}
raced = {name: str(tiny_model_dir(name, shared)) for name in TINY_MODELS}
ids = [build_tiny_tokenizer()(p).input_ids for p in json.loads(sys.argv[3])]
print(json.dumps({"dirs": dirs, "raced": raced, "ids": ids}))
"""


def test_separate_processes_build_identical_models(tmp_path, cache):
    """Same bytes and token ids in every process; racing builds into one cache stay whole."""
    shared = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    prompts = json.dumps(PROMPTS)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path / f"own{i}"), str(shared), prompts],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    a, b = results

    assert a["ids"] == b["ids"]
    assert a["ids"] == [build_tiny_tokenizer()(p).input_ids for p in PROMPTS]  # and this process
    for name in NAMES:
        digest = tree_digest(Path(a["dirs"][name]))
        assert any(path.endswith(".safetensors") for path in digest)
        assert digest == tree_digest(Path(b["dirs"][name])), name
        assert digest == tree_digest(tiny_model_dir(name, cache)), name
        assert a["raced"][name] == b["raced"][name]
        assert tree_digest(Path(a["raced"][name])) == digest, name
    # Only the finished models in the shared cache: the losers' temp copies are gone.
    finished = sorted(Path(a["raced"][name]).name for name in NAMES)
    assert sorted(p.name for p in shared.iterdir()) == finished


def test_tokenizer_covers_chinese_and_english_and_round_trips(cache):
    built = build_tiny_tokenizer()
    loaded = load("tiny", cache).tokenizer
    assert (built.pad_token_id, built.eos_token_id, built.unk_token_id) == (0, 1, 2)
    for prompt in PROMPTS:
        ids = built(prompt).input_ids
        assert ids[-1] == built.eos_token_id
        content = [i for i in ids[:-1] if i != built.convert_tokens_to_ids("▁")]
        assert content and built.unk_token_id not in content, (prompt, ids)
        assert loaded(prompt).input_ids == ids
    assert built.decode(built("A sea monster rises").input_ids, skip_special_tokens=True) == (
        "A sea monster rises"
    )
    assert built("海怪从深海升起").input_ids != built("海怪从浅海升起").input_ids


@pytest.mark.parametrize("name", NAMES)
def test_two_step_generation(name, cache):
    pipe = load(name, cache)
    extra = {"image": Image.new("RGB", (64, 64), (200, 40, 40))} if name == "tiny-i2v-a14b" else {}
    if name == "tiny-flf2v-14b":
        extra = {
            "image": Image.new("RGB", (64, 64), (200, 40, 40)),
            "last_image": Image.new("RGB", (64, 64), (40, 40, 200)),
        }
    video = frames(pipe, **extra)
    assert video.shape == (1, 9, 64, 64, 3)
    assert np.isfinite(video).all()
    assert video.min() >= 0.0 and video.max() <= 1.0
    assert video.std() > 0.01  # not a blank video
    np.testing.assert_array_equal(video, frames(pipe, **extra))  # seeded: reproducible


def test_i2v_output_depends_on_the_image(cache):
    pipe = load("tiny-i2v-a14b", cache)
    red = frames(pipe, image=Image.new("RGB", (64, 64), (220, 30, 30)), steps=1)
    blue = frames(pipe, image=Image.new("RGB", (64, 64), (30, 30, 220)), steps=1)
    assert red.shape == blue.shape == (1, 9, 64, 64, 3)
    assert not np.allclose(red, blue)


@pytest.mark.parametrize(("name", "num_frames"), [("tiny", 5), ("tiny", 17), ("tiny-ti2v-5b", 5)])
def test_non_square_sizes(name, num_frames, cache):
    video = frames(load(name, cache), height=64, width=96, num_frames=num_frames, steps=1)
    assert video.shape == (1, num_frames, 64, 96, 3)
    assert np.isfinite(video).all()


def test_building_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    build_tiny_pipeline("tiny-t2v-a14b")
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize("call", [tiny_model_dir, build_tiny_pipeline])
def test_unknown_name_lists_the_accepted_names(call, tmp_path):
    args = ("tiny-s2v", tmp_path) if call is tiny_model_dir else ("tiny-s2v",)
    with pytest.raises(ValueError, match="tiny-s2v") as caught:
        call(*args)
    for name in NAMES:
        assert name in str(caught.value)
    assert list(tmp_path.iterdir()) == []
