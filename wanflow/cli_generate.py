"""``wanflow generate``: one clip from a prompt, through the same renderer the flow uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wanflow.console import err, fail, load_settings, out


def generate(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the clip shows.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The MP4 to write.")],
    model: Annotated[
        str | None,
        typer.Option(
            help="tiny, ti2v-5b, t2v-a14b, i2v-a14b, a tiny stand-in (tiny-ti2v-5b …) or a "
            "diffusers directory; with --preset, `tiny` means the preset's tiny stand-in."
        ),
    ] = None,
    negative: Annotated[
        str | None, typer.Option(help="Negative prompt (default: Wan's own).")
    ] = None,
    image: Annotated[
        Path | None, typer.Option(help="Reference image (image-to-video).", exists=True)
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="draft, standard, high, ultra (or 草稿 …).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Default: derived from the prompt.")] = None,
    frames: Annotated[int | None, typer.Option(help="Frame count, 4k+1.")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 832x480.")] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Generate one clip: MP4 (H.264, yuv420p, the model's fps) and its last frame as PNG."""
    from generation.adapters import effective_cache
    from generation.clips import request_for
    from generation.formula import WAN_NEGATIVE_PROMPT, seed_for
    from generation.models import MissingWeights
    from generation.presets import PresetError
    from generation.render import Renderer
    from wanflow.video import write_mp4, write_png

    settings = load_settings()
    try:
        spec, params = _model_and_preset(model, preset, image is not None, settings)
    except (MissingWeights, PresetError) as exc:
        raise fail(str(exc), 2) from exc
    if size:
        try:
            width, height = (int(n) for n in size.lower().split("x"))
        except ValueError:
            raise fail(f"--size {size!r}: use WIDTHxHEIGHT, e.g. 832x480", 2) from None
        params = params.model_copy(update={"width": width, "height": height})
    if steps:
        params = params.model_copy(update={"steps": steps})
    try:
        request = request_for(
            params,
            prompt=prompt,
            negative_prompt=WAN_NEGATIVE_PROMPT if negative is None else negative,
            seed=seed if seed is not None else seed_for(prompt),
            num_frames=frames or params.max_frames,
            cache=effective_cache(params.cache, settings.fast_cache),
        ).model_copy(update={"image": image})
        renderer = Renderer(settings)
        err.print(
            f"{spec.name} on {renderer.device}: {request.width}x{request.height}, "
            f"{request.num_frames} frames, {request.steps} steps, seed {request.seed}",
            highlight=False,
        )
        rendered = renderer.render(spec, request, progress_bar=True)
    except (MissingWeights, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    mp4 = write_mp4(rendered.frames, out_file, rendered.fps)
    png = write_png(rendered.frames[-1], out_file.with_suffix(".last.png"))
    result = {
        "mp4": str(mp4),
        "last_frame": str(png),
        "model": rendered.model,
        "device": rendered.device,
        "dtype": rendered.dtype,
        "plan": rendered.plan,
        "speed": rendered.speed,
        "width": rendered.width,
        "height": rendered.height,
        "frames": int(rendered.frames.shape[0]),
        "fps": rendered.fps,
        "steps": request.steps,
        "seed": request.seed,
        "experts": rendered.experts,
        "load_s": round(rendered.load_s, 3),
        "encode_s": round(rendered.encode_s, 3),
        "step_s": round(rendered.step_s, 4),
        "decode_s": round(rendered.decode_s, 3),
        "total_s": round(rendered.total_s, 3),
    }
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    out.print(
        f"{mp4}: {result['frames']} frames {result['width']}x{result['height']} at "
        f"{result['fps']} fps; load {result['load_s']:.1f} s, {result['step_s']:.3f} s/step, "
        f"decode {result['decode_s']:.1f} s; last frame {png}",
        highlight=False,
    )


def _model_and_preset(model: str | None, preset: str | None, has_image: bool, settings):
    """The weights and the sampling values: a preset's values (its model, unless --model names
    other weights), else the model's official ones."""
    from generation.models import TINY, TINY_STAND_IN, resolve_model
    from generation.presets import default_presets, params_of

    if preset is not None or model is None:
        params = default_presets().resolve(preset or settings.default_preset, has_image=has_image)
        name = TINY_STAND_IN[params.model] if model == TINY else (model or params.model)
        return resolve_model(name, settings), params
    spec = resolve_model(model, settings)
    return spec, params_of(spec.defaults, spec.name)
