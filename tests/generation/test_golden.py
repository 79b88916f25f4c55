"""Golden frames: each tiny stand-in, rendered on the CPU with a fixed seed, gives these values.

A clip's content hash covers what decides its frames as far as the request and the weights say
(``generation.clips.clip_hash``), not the code that turns them into frames. A diffusers, torch or
Pillow upgrade that changes the frames of the same request would leave the clip store serving
clips made by the old code under the very hashes the new code computes. This test fails on such
an upgrade instead: check the new frames, bump ``HASH_VERSION`` in ``generation/clips.py`` and
pin the new values (``python -m tests.generation.test_golden`` prints them).

A 3x3 corner of the first and last frame, every channel, through the whole ``Renderer`` path
(``from_pretrained``, the flow shift, the reference image's fit, the experts' guidance) for each
layout the tiny builder makes: Wan2.1 text-to-video, the two-expert text- and image-to-video
models and TI2V-5B from text and from an image. The values are the same bit for bit in every
process on one machine; the tolerance only absorbs rounding between CPUs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from generation.models import resolve_model
from generation.pipelines import unload
from generation.render import Renderer, ShotRequest
from wanflow.settings import Settings

# Rounding between CPUs measured below 1e-6 (one thread or two: bit for bit the same; ATen's
# scalar kernels and oneDNN/MKL held to SSE4: at most 9e-7 anywhere in the frames). A guidance of
# 5 instead of 4 moves the two-expert model's corner by 7e-5: the random weights heed the prompt
# weakly, so a coarser tolerance would let a changed guidance path through.
TOLERANCE = 1e-5
CASES = {  # case → (model, with a reference image)
    "t2v-wan2.1": ("tiny", False),
    "t2v-a14b": ("tiny-t2v-a14b", False),
    "i2v-a14b": ("tiny-i2v-a14b", True),
    "ti2v-5b-text": ("tiny-ti2v-5b", False),
    "ti2v-5b-image": ("tiny-ti2v-5b", True),
}


def reference_image(path: Path) -> Path:
    """A 96x64 colour ramp (arithmetic, so no RNG or codec version can change it), saved as PNG."""
    from PIL import Image

    x, y = np.arange(96)[None, :, None], np.arange(64)[:, None, None]
    pixels = (x * 5 + y * 3 + np.arange(3)[None, None, :] * 80) % 256
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def shot(model: str, settings: Settings, image: Path | None) -> ShotRequest:
    spec = resolve_model(model, settings)
    return ShotRequest(
        prompt="A lighthouse in a storm, 海浪拍岸",
        negative_prompt="blurry",
        seed=42,
        width=1280,
        height=704 if spec.layout == "ti2v" else 720,
        num_frames=5,
        fps=16,
        steps=3,
        guidance=4.0,
        guidance_2=3.0 if spec.layout == "experts" else None,
        shift=spec.defaults.shift,
        image=image,
    )


def corner(frames: np.ndarray) -> np.ndarray:
    """The 3x3 top-left corner of the first and the last frame, every channel."""
    return frames[[0, -1], :3, :3, :]


def render_corner(case: str, renderer: Renderer, image: Path) -> tuple[np.ndarray, np.ndarray]:
    """The corner of one render and the whole frames (to compare with a second render)."""
    model, with_image = CASES[case]
    spec = resolve_model(model, renderer.settings)
    rendered = renderer.render(spec, shot(model, renderer.settings, image if with_image else None))
    return corner(rendered.frames), rendered.frames


# Each case's corner as rows of three pixels' RGB: the first frame's three rows, then the last's.
GOLDEN = {
    "i2v-a14b": [
        [0.383493, 0.624081, 0.571862, 0.362088, 0.591186, 0.562797, 0.347103, 0.610235, 0.583408],
        [0.465814, 0.711546, 0.621999, 0.464082, 0.679564, 0.698064, 0.437532, 0.730154, 0.705665],
        [0.459237, 0.70837, 0.624359, 0.446022, 0.694503, 0.697918, 0.426736, 0.744005, 0.701987],
        [0.311541, 0.500665, 0.529015, 0.307523, 0.389158, 0.570501, 0.40662, 0.432684, 0.528465],
        [0.25253, 0.477175, 0.448512, 0.321856, 0.316575, 0.515561, 0.268159, 0.381988, 0.490044],
        [0.385666, 0.508768, 0.410911, 0.270431, 0.415509, 0.65768, 0.478357, 0.579418, 0.585468],
    ],
    "t2v-a14b": [
        [0.383895, 0.622921, 0.570471, 0.362114, 0.593742, 0.563473, 0.349708, 0.608358, 0.583355],
        [0.464691, 0.709389, 0.620202, 0.464998, 0.682241, 0.69399, 0.439564, 0.728514, 0.703712],
        [0.459365, 0.704949, 0.625594, 0.445626, 0.698729, 0.698957, 0.42935, 0.743877, 0.701063],
        [0.316961, 0.501656, 0.518014, 0.329665, 0.402037, 0.566363, 0.416905, 0.465544, 0.480361],
        [0.247511, 0.459, 0.48131, 0.281728, 0.294857, 0.590602, 0.278775, 0.368975, 0.475107],
        [0.351525, 0.499965, 0.439487, 0.221333, 0.435949, 0.640106, 0.447717, 0.537844, 0.590485],
    ],
    "t2v-wan2.1": [
        [0.383064, 0.622341, 0.571768, 0.360695, 0.592338, 0.564085, 0.34598, 0.608117, 0.582731],
        [0.46483, 0.709731, 0.621427, 0.463296, 0.681141, 0.696957, 0.436788, 0.728085, 0.705072],
        [0.460045, 0.706276, 0.626541, 0.446213, 0.696767, 0.69984, 0.428173, 0.743346, 0.702814],
        [0.314542, 0.495115, 0.527434, 0.323826, 0.386495, 0.58097, 0.412386, 0.450049, 0.505552],
        [0.256929, 0.478271, 0.450062, 0.320231, 0.305703, 0.541844, 0.284656, 0.402238, 0.505393],
        [0.367162, 0.50672, 0.432191, 0.23672, 0.416954, 0.659797, 0.477826, 0.584589, 0.596049],
    ],
    "ti2v-5b-image": [
        [0.494512, 0.512281, 0.516287, 0.408291, 0.597175, 0.5245, 0.522444, 0.502265, 0.499362],
        [0.445493, 0.486213, 0.492008, 0.489438, 0.541046, 0.495579, 0.481583, 0.476941, 0.520184],
        [0.539229, 0.5558, 0.499972, 0.403376, 0.561825, 0.555473, 0.613423, 0.512592, 0.527459],
        [0.538406, 0.52367, 0.60921, 0.332457, 0.417342, 0.542121, 0.50126, 0.593831, 0.542697],
        [0.46715, 0.610584, 0.528189, 0.502855, 0.499128, 0.477302, 0.475596, 0.733056, 0.491779],
        [0.485315, 0.666393, 0.595576, 0.405056, 0.334893, 0.596333, 0.528549, 0.635274, 0.522922],
    ],
    "ti2v-5b-text": [
        [0.468963, 0.592892, 0.499921, 0.409252, 0.586644, 0.507717, 0.496923, 0.576052, 0.467125],
        [0.414401, 0.488589, 0.485104, 0.492877, 0.519714, 0.492595, 0.475692, 0.500999, 0.530822],
        [0.497235, 0.623938, 0.483366, 0.387041, 0.565299, 0.499512, 0.558016, 0.564807, 0.490991],
        [0.494572, 0.568108, 0.530604, 0.300208, 0.386733, 0.543112, 0.471395, 0.630723, 0.405917],
        [0.500363, 0.54468, 0.502658, 0.556676, 0.537499, 0.48368, 0.562368, 0.727281, 0.499194],
        [0.477939, 0.707554, 0.610148, 0.287641, 0.315292, 0.549818, 0.481117, 0.69788, 0.487977],
    ],
}


@pytest.fixture(scope="module")
def renderer(model_dir):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    unload()
    yield Renderer(Settings(model_dir=model_dir, device="cpu"))
    unload()
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", sorted(CASES))
def test_tiny_models_render_the_pinned_frames(case, renderer, tmp_path):
    image = reference_image(tmp_path / "ref.png")
    pinned, frames = render_corner(case, renderer, image)
    _, again = render_corner(case, renderer, image)
    assert np.array_equal(frames, again), "the same request gave other frames in one process"
    assert frames.std() > 0.01  # frames with something in them, not a flat grey
    golden = np.array(GOLDEN[case]).reshape(pinned.shape)
    np.testing.assert_allclose(pinned, golden, rtol=0, atol=TOLERANCE)


if __name__ == "__main__":  # print the values to pin
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        renderer = Renderer(Settings(model_dir=where / "models", device="cpu"))
        image = reference_image(where / "ref.png")
        for case in sorted(CASES):
            rows = render_corner(case, renderer, image)[0].astype(np.float64).reshape(6, 9)
            print(f"    {json.dumps(case)}: [")
            for row in rows.round(6).tolist():
                print(f"        {json.dumps(row)},")
            print("    ],")
