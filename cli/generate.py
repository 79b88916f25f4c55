"""``wanflow generate``: one clip from a prompt, through the same renderer the flow uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, fail, load_settings, out


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
    last_image: Annotated[
        Path | None,
        typer.Option(
            help="The clip's last frame, with --image (a first-last-frame model: flf2v-14b).",
            exists=True,
        ),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="draft, standard, high, ultra (or 草稿 …).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Default: derived from the prompt.")] = None,
    frames: Annotated[
        int | None, typer.Option(help="Frame count, 4k+1, up to the model's clip length.")
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 832x480; at most 1280x720 pixels.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps, 1 to 200.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Generate one clip: MP4 (H.264, yuv420p, the model's fps) and its last frame as PNG."""
    from generation.adapters import effective_cache
    from generation.clips import rendering, request_for
    from generation.formula import WAN_NEGATIVE_PROMPT, seed_for
    from generation.models import MissingWeights
    from generation.presets import PresetError
    from generation.render import Renderer
    from wanflow.video import using_ffmpeg, write_mp4, write_png

    settings = load_settings()
    dimensions = _check_request(prompt, negative, seed, frames, size, steps, settings)
    for picture, option in ((image, "--image"), (last_image, "--last-image")):
        if picture is not None:
            _check_image(picture, option)
    if last_image is not None and image is None:
        raise fail("--last-image needs --image: a clip runs from a first frame to a last", 2)
    try:
        spec, params = _model_and_preset(
            model, preset, image is not None, settings, keyframes=last_image is not None
        )
    except (MissingWeights, PresetError) as exc:
        raise fail(str(exc), 2) from exc
    _check_for_model(spec, params, frames, dimensions)
    if dimensions:
        params = params.model_copy(update={"width": dimensions[0], "height": dimensions[1]})
    if steps is not None:
        params = params.model_copy(update={"steps": steps})
    try:
        request = request_for(
            params,
            prompt=prompt,
            negative_prompt=WAN_NEGATIVE_PROMPT if negative is None else negative,
            seed=seed if seed is not None else seed_for(prompt),
            num_frames=frames if frames is not None else params.max_frames,
            cache=effective_cache(params.cache, settings.fast_cache),
        ).model_copy(update={"image": image, "last_image": last_image})
        renderer = Renderer(settings)
        err.print(
            f"{spec.name} on {renderer.device}: {request.width}x{request.height}, "
            f"{request.num_frames} frames, {request.steps} steps, seed {request.seed}",
            highlight=False,
        )
        rendered = renderer.render(spec, request, progress_bar=True)
    except (MissingWeights, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    with using_ffmpeg(settings.ffmpeg):
        mp4 = write_mp4(rendered.frames, out_file, rendered.fps)
        png = write_png(rendered.frames[-1], out_file.with_suffix(".last.png"))
    result: dict[str, object] = {"mp4": str(mp4), "last_frame": str(png)}
    result |= rendering(rendered, request)  # as the flow's clip record says it
    # A single clip's printout also splits the render into its stages; ``total_s`` is what
    # records call ``render_s``.
    result |= {
        "encode_s": round(rendered.encode_s, 3),
        "decode_s": round(rendered.decode_s, 3),
        "total_s": result.pop("render_s"),
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


def _check_request(prompt, negative, seed, frames, size, steps, settings):
    """Refuse, before any model is loaded or memory allocated, what no model can render:
    returns the --size as (width, height), or ``None``."""
    from wanflow.limits import MAX_ASPECT, MAX_PIXELS, MAX_STEPS, text_problem
    from wanflow.manifest import MAX_PROMPT, MAX_SEED

    for option, text, longest in (
        ("--prompt", prompt, settings.max_prompt_chars),
        ("--negative", negative or "", MAX_PROMPT),
    ):
        if len(text) > longest:
            raise fail(f"{option} is {len(text)} characters; the limit is {longest}", 2)
        if problem := text_problem(text):
            raise fail(f"{option}: {problem}", 2)
    if not prompt.strip():
        raise fail("--prompt is empty", 2)
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise fail(f"--steps {steps}: use 1 to {MAX_STEPS}", 2)
    if frames is not None and frames < 1:
        raise fail(f"--frames {frames}: use a positive 4k+1 count (1, 5, … 81)", 2)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise fail(f"--seed {seed}: use 0 to {MAX_SEED}", 2)
    if not size:
        return None
    try:
        width, height = (int(n) for n in size.lower().split("x"))
    except ValueError:
        raise fail(f"--size {size!r}: use WIDTHxHEIGHT, e.g. 832x480", 2) from None
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise fail(
            f"--size {size}: width x height must be 1 to {MAX_PIXELS} pixels "
            "(1280x720, Wan2.2's largest trained size)",
            2,
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise fail(f"--size {size}: the longer side may be at most {MAX_ASPECT}x the shorter", 2)
    return width, height


def _check_image(path: Path, option: str = "--image") -> None:
    """A reference image PIL can read, of a size worth decoding (its header says)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from wanflow.limits import MAX_IMAGE_PIXELS

    try:
        with warnings.catch_warnings():  # the size is refused below, in our own words
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise fail(f"{option} {path}: not an image PIL can read ({exc})", 2) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise fail(
            f"{option} {path}: {width}x{height} is over {MAX_IMAGE_PIXELS} pixels; scale it down",
            2,
        )


def _check_for_model(spec, params, frames: int | None, dimensions) -> None:
    """What the chosen model can take: its trained clip length, its size multiple."""
    if frames is not None and (frames > params.max_frames or (frames - 1) % 4):
        raise fail(
            f"--frames {frames}: {spec.name} takes 4k+1 frames from 1 to {params.max_frames} "
            "(its trained clip length)",
            2,
        )
    m = spec.size_multiple
    if dimensions and (dimensions[0] % m or dimensions[1] % m):
        raise fail(
            f"--size {dimensions[0]}x{dimensions[1]}: {spec.name} needs each side a multiple "
            f"of {m}",
            2,
        )


def _model_and_preset(
    model: str | None, preset: str | None, has_image: bool, settings, *, keyframes: bool = False
):
    """The weights and the sampling values: a preset's values (its model, unless --model names
    other weights), else the model's official ones."""
    from generation.models import TINY, TINY_STAND_IN, resolve_model
    from generation.presets import default_presets, params_of

    if preset is not None or model is None:
        params = default_presets().resolve(
            preset or settings.default_preset, has_image=has_image, keyframes=keyframes
        )
        name = TINY_STAND_IN[params.model] if model == TINY else (model or params.model)
        return resolve_model(name, settings), params
    spec = resolve_model(model, settings)
    return spec, params_of(spec.defaults, spec.name)
