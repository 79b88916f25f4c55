"""Visual review speed on the CPU: frames/s per classifier, and review seconds per video minute.

Review runs on CPU workers beside the GPU, so what matters is whether it keeps up with
generation. A synthetic 720p clip (a moving gradient with a few hard cuts) is sampled at the
default rate; each classifier scores the sampled frames. OpenCLIP timings use random weights —
the cost does not depend on the values. Prints figures; asserts nothing.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/review.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
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
    print(f"default review (sampling + NudeNet + open_nsfw + ViT-B-32): {default:.1f} s per minute")


if __name__ == "__main__":
    main()
