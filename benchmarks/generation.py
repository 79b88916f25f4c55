"""Cost of Wan2.2 generation components: denoiser forward, UMT5 text encode, VAE decode.

A clip's time is almost all denoiser forwards (steps × 2 with classifier-free guidance), plus one
VAE decode and two prompt encodes (prompt and negative prompt). Each is timed here on random
weights built in place (nothing is downloaded; cost does not depend on weight values), at the
real architecture sizes on CUDA:

- denoiser (``WanTransformer3DModel``, bf16): one T2V-A14B expert at 1280×720 and 832×480, 81
  frames, and TI2V-5B at 1280×704, 121 frames (Wan2.2 VAE: 16× spatial), in two columns side by
  side: "diffusers as documented" (eager, default attention = PyTorch SDPA, cond and uncond as
  two passes) and "Wanflow best lossless" (``generation.speed``: the fastest installed attention
  kernel and ``compile_repeated_blocks(fullgraph=True)``);
- text encoder: the UMT5-XXL encoder (bf16) on 512 tokens;
- VAE decode (``AutoencoderKLWan``): the Wan2.1 VAE at 720p/81 frames and the Wan2.2 VAE at
  704p/121 frames, fp32 (as documented, and Wanflow's default) and bf16, untiled and tiled.

Each figure is the median of ``--repeats`` calls after one warm-up call (CUDA events on the
GPU). Printed per case: s per call, s/step (2 forwards), an estimated clip time (steps × s/step
+ 2 encodes + one fp32 decode scaled to the clip's pixels), peak GPU memory (reset per case),
TFLOP/s and MFU. Denoiser FLOPs come from the architecture (:func:`forward_flops`); encoder and
VAE FLOPs are counted by ``torch.utils.flop_counter`` during the warm-up call. H100 reference
figures (torch 2.11, measured on a lent H100 with ad-hoc scripts) are printed beside the
measurements, with the targets.

On the CPU the same code runs on tiny models (``generation/tiny.py`` sizes) at small token counts
so that the script is exercised everywhere; those figures are not comparable with GPU targets.

Usage: .venv/bin/python benchmarks/generation.py [--device auto|cuda|cpu] [--configs a,b,...]
       [--repeats N] [--no-compile] [--peak-tflops X | --measure-peak] [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace

if __name__ == "__main__":
    # As a script, sys.path[0] is benchmarks/, where this file would shadow the ``generation``
    # package: find the package from the repository root instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

TEXT_TOKENS = 512
GiB = 1024**3
H100_BF16_PEAK = 780.0  # TFLOP/s: a large bf16 matmul on a lent H100

# Architectures; every key is a constructor argument of the installed diffusers/transformers.
# fmt: off
A14B = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16,
            out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)
TI2V_5B = {**A14B, "num_attention_heads": 24, "ffn_dim": 14336, "num_layers": 30,
           "in_channels": 48, "out_channels": 48}
TINY = dict(num_attention_heads=2, attention_head_dim=12, ffn_dim=32, num_layers=2, text_dim=32)
VAE21: dict = {}  # AutoencoderKLWan's defaults are the Wan2.1 VAE (base_dim 96, z_dim 16)
# Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json (latents mean/std play no part in decoding).
VAE22 = dict(base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, in_channels=12,
             out_channels=12, patch_size=2, scale_factor_spatial=16,
             latents_mean=[0.0] * 48, latents_std=[1.0] * 48)
TINY_VAE = dict(base_dim=8, decoder_base_dim=8, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
TINY_TILES = (64, 64, 48, 48)  # tile min height/width, stride height/width: tiles a tiny decode
UMT5_XXL = dict(vocab_size=256384, d_model=4096, num_layers=24, num_heads=64, d_kv=64, d_ff=10240)
TINY_UMT5 = dict(vocab_size=1024, d_model=32, num_layers=2, num_heads=4, d_kv=8, d_ff=64)
# fmt: on


@dataclass
class Case:
    name: str
    kind: str  # denoiser | vae | text_encoder
    label: str
    arch: dict
    size: tuple[int, int, int]  # width, height, frames
    tiny_arch: dict
    tiny_size: tuple[int, int, int]
    spatial: int = 8  # the VAE's spatial compression
    steps: int = 0  # the model's official sampling steps
    expand_timesteps: bool = False  # TI2V: one timestep per token
    vae: str = ""  # the VAE case whose decode goes into the clip estimate
    reference: tuple[float, ...] = ()  # H100 s: (documented, best) | (fp32, bf16) | (encode,)
    target: tuple[float, float] = (0.0, 0.0)  # clip s at most, MFU at least (0: none)

    def sized(self, tiny: bool) -> tuple[dict, tuple[int, int, int]]:
        return (self.tiny_arch, self.tiny_size) if tiny else (self.arch, self.size)


# fmt: off
CASES = {c.name: c for c in (  # encoder and VAEs first: the clip estimates use them
    Case("umt5", "text_encoder", "UMT5-XXL encoder", UMT5_XXL, (0, 0, 0), TINY_UMT5, (0, 0, 0),
         reference=(0.05,)),
    Case("vae21-720p", "vae", "Wan2.1 VAE decode", VAE21, (1280, 720, 81),
         TINY_VAE, (128, 128, 9), reference=(7.6, 4.7)),
    Case("vae22-704p", "vae", "Wan2.2 VAE decode", VAE22, (1280, 704, 121),
         {**VAE22, **TINY_VAE}, (128, 128, 9), spatial=16, reference=(10.3, 6.3)),
    Case("a14b-720p", "denoiser", "T2V-A14B expert", A14B, (1280, 720, 81),
         {**A14B, **TINY}, (128, 128, 17), steps=40, vae="vae21-720p",
         reference=(12.76, 11.38), target=(900.0, 0.75)),
    Case("a14b-480p", "denoiser", "T2V-A14B expert", A14B, (832, 480, 81),
         {**A14B, **TINY}, (128, 64, 17), steps=40, vae="vae21-720p"),
    Case("ti2v-720p", "denoiser", "TI2V-5B", TI2V_5B, (1280, 704, 121),
         {**TI2V_5B, **TINY}, (256, 256, 17), spatial=16, steps=50, expand_timesteps=True,
         vae="vae22-704p", reference=(1.24, 0.94), target=(105.0, 0.0)),
)}
# fmt: on


def forward_flops(
    tokens: int, block_params: int, layers: int, width: int, text_tokens: int = TEXT_TOKENS
) -> int:
    """FLOPs of one denoiser forward: each block parameter once per token (a multiply-add is
    2 FLOPs), plus QK^T and PV of self-attention (tokens²) and of cross-attention (text tokens).

    Embeddings and the output head are left out (< 1 %). The cross-attention K/V projections
    (15 % of an A14B block) really act on the 512 text tokens, not on every video token:
    counting them per token, as this formula does, overstates an A14B 720p forward by ≈ 4.6 %.
    """
    self_attention = 4 * layers * tokens**2 * width
    cross_attention = 4 * layers * tokens * text_tokens * width
    return 2 * tokens * block_params + self_attention + cross_attention


def denoiser_flops(arch: dict, tokens: int, block_params: int | None = None) -> int:
    """:func:`forward_flops` for an architecture (parameters counted on the meta device)."""
    if block_params is None:
        import torch
        from diffusers import WanTransformer3DModel

        with torch.device("meta"):
            block_params = sum(p.numel() for p in WanTransformer3DModel(**arch).blocks.parameters())
    width = arch["num_attention_heads"] * arch["attention_head_dim"]
    return forward_flops(tokens, block_params, arch["num_layers"], width)


def latent_shape(channels: int, size: tuple[int, int, int], spatial: int) -> tuple[int, ...]:
    width, height, frames = size
    return (1, channels, (frames - 1) // 4 + 1, height // spatial, width // spatial)


@contextmanager
def building(device: str, dtype):
    """Create parameters directly on ``device`` in ``dtype`` (never a full fp32 copy)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def measure(fn, device: str, repeats: int, count_flops: bool = False) -> dict:
    """Median s of ``repeats`` calls after a warm-up call, the warm-up's s (compile included),
    peak GPU memory over all of them and, if asked, the FLOPs counted during the warm-up."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    counter = FlopCounterMode(display=False) if count_flops else None
    start = time.perf_counter()
    with torch.inference_mode(), counter or nullcontext():
        fn()
    if cuda:
        torch.cuda.synchronize()
    first, times = time.perf_counter() - start, []
    for _ in range(repeats):
        if cuda:
            begin, end = (torch.cuda.Event(enable_timing=True) for _ in "ab")
            begin.record()
        start = time.perf_counter()
        with torch.inference_mode():
            fn()
        if cuda:
            end.record()
            end.synchronize()
        times.append(begin.elapsed_time(end) / 1000 if cuda else time.perf_counter() - start)
    return dict(
        seconds=statistics.median(times),
        first_call_seconds=first,
        flops=counter.get_total_flops() if counter else None,
        peak_gib=torch.cuda.max_memory_allocated() / GiB if cuda else None,
    )


def run_text_encoder(case: Case, run: SimpleNamespace) -> list[dict]:
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    arch, _ = case.sized(run.tiny)
    with building(run.device, run.dtype):
        encoder = UMT5EncoderModel(UMT5Config(**arch)).eval()
        ids = torch.randint(0, arch["vocab_size"], (1, TEXT_TOKENS))
    call = partial(encoder, input_ids=ids, attention_mask=torch.ones_like(ids))
    row = measure(call, run.device, run.repeats, count_flops=True)
    return [row | dict(column="documented", variant=str(run.dtype)[6:])]


def run_vae(case: Case, run: SimpleNamespace) -> list[dict]:
    import torch
    from diffusers import AutoencoderKLWan

    arch, size = case.sized(run.tiny)

    def decode(dtype) -> list[dict]:  # one dtype; the model is freed on return
        with building(run.device, dtype):
            vae = AutoencoderKLWan(**arch).eval()
            z = torch.randn(latent_shape(arch.get("z_dim", 16), size, case.spatial))
        rows = []
        for tiled in (False, True):
            if tiled:
                vae.enable_tiling(*(TINY_TILES if run.tiny else ()))
            row = measure(partial(vae.decode, z), run.device, run.repeats, count_flops=True)
            variant = str(dtype)[6:] + ("-tiled" if tiled else "")
            column = "documented" if dtype == torch.float32 else "bf16"
            rows.append(row | dict(column=column, variant=variant, pixels=math.prod(size)))
        return rows

    return decode(torch.float32) + decode(torch.bfloat16)


def clip_parts(case: Case, size: tuple[int, int, int], run: SimpleNamespace) -> dict:
    """Seconds of one encode and of one fp32 decode scaled to ``size``'s pixels, for the clip
    estimate: measured earlier in this run, else the H100 references (none on the CPU)."""
    first: dict[str, dict] = {}
    for row in run.rows:
        first.setdefault(row["config"], row)  # the fp32 untiled decode comes first
    parts = {}
    for part, name in (("encode", "umt5"), ("decode", case.vae)):
        row, ref = first.get(name), CASES[name]
        if row is None and run.tiny:
            continue
        seconds = row["seconds"] if row else ref.reference[0]
        if part == "decode":
            seconds *= math.prod(size) / (row["pixels"] if row else math.prod(ref.size))
        parts[f"{part}_seconds"], parts[f"{part}_from"] = seconds, "this run" if row else "H100 ref"
    return parts


def run_denoiser(case: Case, run: SimpleNamespace) -> list[dict]:
    import torch
    from diffusers import WanTransformer3DModel

    from generation.memory import geometry
    from generation.speed import apply_speed, attention_backend

    arch, size = case.sized(run.tiny)
    tokens = geometry(*size, spatial=case.spatial, patch=2).tokens
    with building(run.device, run.dtype):
        model = WanTransformer3DModel(**arch).eval()
        latents = torch.randn(latent_shape(arch["in_channels"], size, case.spatial))
        text = torch.randn(1, TEXT_TOKENS, arch["text_dim"])
        shape = (1, tokens) if case.expand_timesteps else (1,)  # TI2V: a timestep per token
        timestep = torch.full(shape, 999.0, dtype=torch.float32)
    call = partial(model, latents, timestep, text, return_dict=False)
    block_params = sum(p.numel() for p in model.blocks.parameters())
    flops = denoiser_flops(arch, tokens, block_params)
    parts = clip_parts(case, size, run)
    fixed = 2 * parts.get("encode_seconds", 0) + parts.get("decode_seconds", 0)
    rows = []
    for column in ("documented", "wanflow"):
        kernels = "native"
        if column == "wanflow":
            attention = attention_backend("auto", run.device)
            holder = SimpleNamespace(transformer=model)
            kernels = apply_speed(holder, attention=attention, compile_blocks=run.compile).label()
        row = measure(call, run.device, run.repeats)
        step = 2 * row["seconds"]
        clip = case.steps * step + fixed
        rows.append(
            row
            | dict(column=column, kernels=kernels, tokens=tokens, block_params=block_params)
            | dict(flops=flops, s_per_step=step, steps=case.steps, clip_seconds=clip)
            | parts
        )
    return rows


def measure_peak(device: str) -> float:
    """TFLOP/s of a large square matmul (bf16 on CUDA, fp32 on the CPU)."""
    import torch

    n, dtype = (16384, torch.bfloat16) if device == "cuda" else (2048, torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in "ab")
    return 2 * n**3 / measure(partial(torch.matmul, a, b), device, repeats=5)["seconds"] / 1e12


def _fmt(value, digits: int = 4) -> str:
    if isinstance(value, (list, tuple)):
        return " / ".join(_fmt(v, digits) for v in value) if value else "-"
    return "-" if value is None else f"{value:.{digits}g}" if isinstance(value, float) else value


def table(title: str, headers: list[str], lines: list[list]) -> None:
    print(f"\n{title}")
    for label, *cells in [["", *headers], *lines]:
        print(f"  {label:<24}" + "".join(f"{_fmt(c):>26}" for c in cells))


def report(case: Case, rows: list[dict], tiny: bool) -> None:
    arch, (width, height, frames) = case.sized(tiny)
    ref = case.reference
    stats = dict(seconds="s / call", peak_gib="peak GiB", tflops="TFLOP/s", mfu="MFU")
    if case.kind == "text_encoder":
        lines = [[v, rows[0][k], ref[0] if k == "seconds" else None] for k, v in stats.items()]
        title = f"{case.name}: {case.label} ({arch['num_layers']} layers x {arch['d_model']}), "
        title += f"{TEXT_TOKENS} tokens, {rows[0]['variant']} (same code in both columns)"
        return table(title, ["eager", "H100 ref"], lines)
    if case.kind == "vae":
        by = {r["variant"]: r for r in rows}
        lines = [
            [f"{v}{t and ', tiled'}", by[f"float32{t}"][k], by[f"bfloat16{t}"][k], None]
            for k, v in stats.items()
            for t in ("", "-tiled")
        ]
        lines[0][-1] = list(ref)
        title = f"{case.name}: {case.label} at {width}x{height}, {frames} frames"
        return table(title, ["fp32 (documented)", "bf16", "H100 ref fp32 / bf16"], lines)
    doc, best = rows
    ref_clip, ref_tflops = [], []
    if ref:  # the references are for the real sizes, whatever runs here
        from generation.memory import geometry

        vae = CASES[case.vae]
        fixed = 2 * CASES["umt5"].reference[0]
        fixed += vae.reference[0] * math.prod(case.size) / math.prod(vae.size)
        ref_clip = [case.steps * 2 * s + fixed for s in ref]
        real_flops = denoiser_flops(case.arch, geometry(*case.size, spatial=case.spatial).tokens)
        ref_tflops = [real_flops / s / 1e12 for s in ref]
    lines = [
        ["kernels", "kernels", "native / compiled" if ref else None],
        ["seconds", "s / forward", list(ref)],
        ["first_call_seconds", "first call s (+compile)", None],
        ["s_per_step", "s / step (CFG: 2 fwd)", [2 * s for s in ref]],
        ["clip_seconds", f"est. s / clip, {case.steps} st", ref_clip],
        ["peak_gib", "peak GiB", None],
        ["tflops", "TFLOP/s", ref_tflops],
        ["mfu", "MFU", [t / H100_BF16_PEAK for t in ref_tflops]],
    ]
    hidden = arch["num_attention_heads"] * arch["attention_head_dim"]
    title = f"{case.name}: {case.label} ({arch['num_layers']} layers x {hidden}) at {width}x"
    title += f"{height}, {frames} frames: {doc['tokens']:,} tokens, "
    title += f"{doc['flops'] / 1e12:.4g} TFLOP per forward"
    headers = ["diffusers as documented", "Wanflow best lossless", "H100 ref (doc / best)"]
    table(title, headers, [[label, doc[k], best[k], r] for k, label, r in lines])
    encode, decode = (
        f"{_fmt(doc.get(f'{p}_seconds'))} s, {doc.get(f'{p}_from', 'not run')}"
        for p in ("encode", "decode")
    )
    print(f"  clip = steps x s/step + 2 x encode ({encode}) + fp32 decode ({decode})")
    clip_max, mfu_min = case.target
    if clip_max and not tiny:
        met = best["clip_seconds"] <= clip_max and best["mfu"] >= mfu_min
        goal = f"clip <= {clip_max:g} s" + (f", MFU >= {mfu_min}" if mfu_min else "")
        print(f"  target {goal}: {'met' if met else 'NOT met'} by Wanflow best lossless")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--configs", default=",".join(CASES), help=", ".join(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after one warm-up")
    parser.add_argument("--no-compile", action="store_true", help="no regional compilation")
    parser.add_argument("--peak-tflops", type=float, help="peak for MFU (CUDA default: 780)")
    parser.add_argument("--measure-peak", action="store_true", help="time a large matmul")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    names = {n.strip() for n in args.configs.split(",") if n.strip()}
    if names - set(CASES) or not names:
        parser.error(f"--configs: unknown {sorted(names - set(CASES))}; known: {', '.join(CASES)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    import diffusers
    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and device != "cuda":
        parser.error("--device cuda: no CUDA device here")
    device = device if args.device == "auto" else args.device
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    run = SimpleNamespace(device=device, dtype=dtype, tiny=device == "cpu", rows=[])
    run.repeats, run.compile = args.repeats, not args.no_compile
    if args.measure_peak or (args.peak_tflops is None and run.tiny):
        peak, source = measure_peak(device), "measured matmul"
    elif args.peak_tflops:
        peak, source = args.peak_tflops, "--peak-tflops"
    else:
        peak, source = H100_BF16_PEAK, "H100 bf16 matmul, measured"
    name = f"CPU, {torch.get_num_threads()} threads" if run.tiny else torch.cuda.get_device_name()
    print(f"device: {name}; torch {torch.__version__}, diffusers {diffusers.__version__}, ", end="")
    print(f"transformers {transformers.__version__}; peak {peak:.4g} TFLOP/s ({source})")
    if run.tiny:
        print("CPU: tiny random models at small token counts; these figures exercise the code")
        print("and are NOT comparable with the GPU targets or the H100 references.")
    runners = dict(text_encoder=run_text_encoder, vae=run_vae, denoiser=run_denoiser)
    for case in (c for c in CASES.values() if c.name in names):
        try:
            rows = runners[case.kind](case, run)
        except torch.OutOfMemoryError as error:
            print(f"\n{case.name}: out of memory: {str(error).splitlines()[0]}")
            rows = []
        for row in rows:
            row.update(config=case.name, component=case.kind, device=device, tiny=run.tiny)
            row["tflops"] = row["flops"] / row["seconds"] / 1e12
            row["mfu"] = row["tflops"] / peak
        if rows:
            report(case, rows, run.tiny)
        run.rows += rows
        torch._dynamo.reset()  # compiled blocks hold on to their model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(dict(device=name, peak_tflops=peak, rows=run.rows)))
    return 0 if run.rows and all(math.isfinite(r["seconds"]) for r in run.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
