"""Visual review speed on the CPU: frames/s per classifier, and review seconds per video minute.

Review runs on CPU workers beside the GPU, so what matters is whether it keeps up with
generation. A synthetic 720p clip (a moving gradient with a few hard cuts) is sampled at the
default rate; each classifier scores the sampled frames. OpenCLIP timings use random weights —
the cost does not depend on the values. Prints figures; asserts nothing.

Then ``wanflow review``'s work on the clip (sampling, the configured classifiers, the policy;
without CLIP weights unless ``WANFLOW_CLIP_WEIGHTS`` names them, or ``--clip-weights random``
asks for a random ViT-S-32 checkpoint written on the spot) against what a user would write by
hand: ``ffmpeg -vf fps=1`` writing JPEGs, and NudeNet's detector on each. Both load their models
once first, as a review worker does; then they run in turn, ``--repeats`` times each (see
benchmarks/compare.py), and the ratio of their medians is printed, with the frames/s each of
Wanflow's classifiers reached inside the review.

    .venv/bin/python benchmarks/review.py [--seconds 20] [--repeats 3] [--json]
        [--clip-weights random|FILE] [--no-table]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])


def synthetic_clip(path: Path, seconds: float, fps: int = 16) -> Path:
    import numpy as np

    from wanflow.video import write_mp4

    frames = int(seconds * fps) // 4 * 4 + 1
    y, x = np.mgrid[0:720, 0:1280]
    video = np.empty((frames, 720, 1280, 3), np.uint8)
    for i in range(frames):
        shift = (i * 8) % 1280
        video[i, ..., 0] = ((x + shift) % 256).astype(np.uint8)
        video[i, ..., 1] = (y % 256).astype(np.uint8)
        video[i, ..., 2] = 80 if (i // (fps * 5)) % 2 else 200  # a cut every 5 s
    return write_mp4(video, path, fps)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="frames sampled per second")
    parser.add_argument("--json", action="store_true", help="last line: the comparison as JSON")
    parser.add_argument(
        "--clip-weights",
        help="CLIP weights for the review compared: 'random' (a random ViT-S-32 checkpoint, "
        "built offline) or a checkpoint file; default: WANFLOW_CLIP_WEIGHTS, if set",
    )
    parser.add_argument(
        "--no-table", action="store_true", help="skip the per-classifier table (and torch)"
    )
    args = parser.parse_args()

    from moderation.frames import sample_frames

    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", args.seconds)
        sampling_s = timed(lambda: sample_frames(clip, rate=args.rate), args.repeats)
        frames = sample_frames(clip, rate=args.rate)
        print(
            f"CPU; clip {args.seconds:g} s 1280x720 at 16 fps; {len(frames)} frames sampled at "
            f"{args.rate:g}/s (+ first, last, cuts) in {sampling_s:.2f} s"
        )
        table = {} if args.no_table else classifier_table(frames, sampling_s, args)
        compare_with_baseline(clip, Path(tmp), args, table)


def classifier_table(frames: list, sampling_s: float, args: argparse.Namespace) -> dict:
    """Each classifier alone on the sampled frames, loaded first: label → frames/s."""
    import torch

    from moderation.nudity import NudeNetClassifier, OpenNsfwClassifier
    from moderation.zeroshot import ZeroShotClassifier

    classifiers = [
        ("NudeNet 320n", NudeNetClassifier()),
        ("open_nsfw", OpenNsfwClassifier()),
        ("OpenCLIP ViT-B-32", ZeroShotClassifier.random_weights(model="ViT-B-32")),
        ("OpenCLIP ViT-S-32", ZeroShotClassifier.random_weights(model="ViT-S-32")),
    ]
    per_minute = {"sampling": sampling_s * 60 / args.seconds}
    rates: dict[str, float] = {}
    print(f"{torch.get_num_threads()} torch threads for OpenCLIP (random weights)")
    print(f"{'classifier':<20}{'frames/s':>10}{'ms/frame':>10}{'s per video minute':>20}")
    for label, classifier in classifiers:
        classifier.score(frames[:1])  # load, and cache the text embeddings
        seconds = timed(lambda c=classifier: c.score(frames), args.repeats)
        per_minute[label] = seconds * 60 / args.seconds
        rates[label] = round(len(frames) / seconds, 2)
        rate, minute = rates[label], per_minute[label]
        print(f"{label:<20}{rate:>10.1f}{1000 / rate:>10.1f}{minute:>20.2f}")
    default = per_minute["sampling"] + sum(
        per_minute[k] for k in ("NudeNet 320n", "open_nsfw", "OpenCLIP ViT-B-32")
    )
    print(f"default review (sampling + NudeNet + open_nsfw + ViT-B-32): {default:.1f} s per minute")
    return rates


def random_clip_weights(folder: Path) -> Path:
    """A random ViT-S-32 checkpoint, as the tests build one: its scores mean nothing, its cost
    is a real checkpoint's."""
    from safetensors.torch import save_file

    from moderation.zeroshot import ZeroShotClassifier

    model = ZeroShotClassifier.random_weights("ViT-S-32").module
    path = folder / "random-vit-s-32.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def baseline_review(clip: Path, folder: Path, detector) -> list[list[dict]]:
    """By hand: one frame a second to JPEG with ffmpeg, then NudeNet's detector on each."""
    import subprocess

    from wanflow.settings import Settings
    from wanflow.video import using_ffmpeg

    frames = folder / "frames"
    shutil.rmtree(frames, ignore_errors=True)
    frames.mkdir()
    with using_ffmpeg(Settings().ffmpeg) as binary:  # the binary Wanflow runs
        pass
    command = [binary, "-v", "error", "-i", str(clip), "-vf", "fps=1", str(frames / "%04d.jpg")]
    subprocess.run(command, check=True)
    return [detector.detect(str(path)) for path in sorted(frames.glob("*.jpg"))]


def compare_with_baseline(
    clip: Path, folder: Path, args: argparse.Namespace, table: dict[str, float]
) -> None:
    from nudenet import NudeDetector

    from benchmarks.compare import alternate, report
    from moderation.item_review import classifiers_for, review_clip_file
    from wanflow.settings import Settings

    settings = Settings()
    if args.clip_weights == "random":
        weights = str(random_clip_weights(folder))
        settings = settings.model_copy(update={"clip_model": "ViT-S-32", "clip_weights": weights})
    elif args.clip_weights:
        settings = settings.model_copy(update={"clip_weights": args.clip_weights})
    names = [type(c).__name__ for c in classifiers_for(settings)]
    detector = NudeDetector()
    reviews = []
    comparison = alternate(
        lambda: reviews.append(review_clip_file(clip, settings)),
        lambda: baseline_review(clip, folder, detector),
        args.repeats,
        warm_up=True,  # model loads: once per worker process on both sides
    )
    frames = len(reviews[-1].frames)
    # Inside the review: each classifier's frames/s, from the median of its seconds per run.
    failures = reviews[-1].verdict.failures
    failed = {f.split(": ", 1)[0] for f in failures}
    review_rates = {  # None: the classifier failed (no weights …), so scored nothing
        name: None
        if name in failed
        else round(frames / max(statistics.median(r.seconds[name] for r in reviews), 1e-6), 2)
        for name in reviews[-1].seconds
    }
    print(
        f"wanflow review ({', '.join(names)}; {frames} frames) against ffmpeg fps=1 + NudeNet "
        f"on the same {args.seconds:g} s clip:"
    )
    print(
        "  frames/s inside the review: "
        + ", ".join(f"{name} {rate or 'failed'}" for name, rate in review_rates.items())
        + (f"  (failed, so sent to review: {'; '.join(failures)[:160]})" if failures else "")
    )
    report(
        comparison,
        args.json,
        unit=lambda s: f"{s * 60 / args.seconds:7.2f} s per video minute",
        benchmark="review",
        seconds=args.seconds,
        classifiers=names,
        frames=frames,
        review_frames_per_s=review_rates,
        classifier_frames_per_s=table,
        clip_weights=str(settings.clip_weights) if settings.clip_weights else None,
        wanflow_per_minute_s=round(comparison.wanflow_s * 60 / args.seconds, 3),
        baseline_per_minute_s=round(comparison.baseline_s * 60 / args.seconds, 3),
    )


if __name__ == "__main__":
    main()
