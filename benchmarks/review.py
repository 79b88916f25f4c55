"""Visual review speed on the CPU: frames/s per classifier, and review seconds per video minute.

Review runs on CPU workers beside the GPU, so what matters is whether it keeps up with
generation. A synthetic 720p clip (a moving gradient with a few hard cuts) is sampled at the
default rate; each classifier scores the sampled frames. OpenCLIP timings use random weights —
the cost does not depend on the values. Prints figures; asserts nothing.

Then ``wanflow review``'s work on the clip (sampling, the configured classifiers, the policy;
without CLIP weights unless ``WANFLOW_CLIP_WEIGHTS`` names them) against what a user would
write by hand: ``ffmpeg -vf fps=1`` writing JPEGs, and NudeNet's detector on each. Both load
their models once first, as a review worker does; then they run in turn, ``--repeats`` times
each (see benchmarks/compare.py), and the ratio of their medians is printed.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/review.py [--seconds 20] [--repeats 3] [--json]
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
    args = parser.parse_args()

    import torch

    from moderation.frames import sample_frames
    from moderation.nudity import NudeNetClassifier, OpenNsfwClassifier
    from moderation.zeroshot import ZeroShotClassifier

    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", args.seconds)
        sampling_s = timed(lambda: sample_frames(clip, rate=args.rate), args.repeats)
        frames = sample_frames(clip, rate=args.rate)
        print(
            f"CPU, {torch.get_num_threads()} torch threads; clip {args.seconds:g} s 1280x720 at "
            f"16 fps; {len(frames)} frames sampled at {args.rate:g}/s (+ first, last, cuts) in "
            f"{sampling_s:.2f} s"
        )
        classifiers = [
            ("NudeNet 320n", NudeNetClassifier()),
            ("open_nsfw", OpenNsfwClassifier()),
            ("OpenCLIP ViT-B-32", ZeroShotClassifier.random_weights(model="ViT-B-32")),
            ("OpenCLIP ViT-S-32", ZeroShotClassifier.random_weights(model="ViT-S-32")),
        ]
        per_minute = {"sampling": sampling_s * 60 / args.seconds}
        print(f"{'classifier':<20}{'frames/s':>10}{'ms/frame':>10}{'s per video minute':>20}")
        for label, classifier in classifiers:
            classifier.score(frames[:1])  # load, and cache the text embeddings
            seconds = timed(lambda c=classifier: c.score(frames), args.repeats)
            per_minute[label] = seconds * 60 / args.seconds
            rate = len(frames) / seconds
            print(f"{label:<20}{rate:>10.1f}{1000 / rate:>10.1f}{per_minute[label]:>20.2f}")
        default = per_minute["sampling"] + sum(
            per_minute[k] for k in ("NudeNet 320n", "open_nsfw", "OpenCLIP ViT-B-32")
        )
        print(
            f"default review (sampling + NudeNet + open_nsfw + ViT-B-32): {default:.1f} s "
            "per minute"
        )
        compare_with_baseline(clip, Path(tmp), args)


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


def compare_with_baseline(clip: Path, folder: Path, args: argparse.Namespace) -> None:
    from nudenet import NudeDetector

    from benchmarks.compare import alternate, report
    from moderation.item_review import classifiers_for, review_clip_file
    from wanflow.settings import Settings

    settings = Settings()
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
    print(
        f"wanflow review ({', '.join(names)}; {frames} frames) against ffmpeg fps=1 + NudeNet "
        f"on the same {args.seconds:g} s clip:"
    )
    report(
        comparison,
        args.json,
        unit=lambda s: f"{s * 60 / args.seconds:7.2f} s per video minute",
        benchmark="review",
        seconds=args.seconds,
        classifiers=names,
        frames=frames,
        wanflow_per_minute_s=round(comparison.wanflow_s * 60 / args.seconds, 3),
        baseline_per_minute_s=round(comparison.baseline_s * 60 / args.seconds, 3),
    )


if __name__ == "__main__":
    main()
