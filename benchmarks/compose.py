"""Post-production speed on the CPU: a 720p story of 6 shots (about 30 s) composed end to end.

Prints the compose time as a multiple of real time (video seconds per wall second; above 1 is
faster than real time) and each step's share: narrate (espeak-ng), normalise, join (xfade,
x264), mix (two-pass loudnorm), mux, check, thumbnail. Clips are synthetic moving gradients —
x264 spends about as long on them as on real footage of the same size. Asserts nothing. Every
ffmpeg run is the ``WANFLOW_FFMPEG`` binary's when set, as in the pipeline.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/compose.py [--shots 6] [--seconds 5] \
        [--size 1280x720]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])

NARRATION = [
    "冬夜，猎户座从东方升起。",
    "他带着两只猎犬，追逐天上的金牛。",
    "七姐妹星团在金牛的肩头闪烁。",
    "天狼星紧随其后，是夜空中最亮的星。",
    "黎明前，天蝎座从地平线下出现。",
    "猎人悄悄沉入西方，等待下一个冬天。",
]
TRANSITIONS = ["dissolve", "fade", "wipe", "slide", "circle"]


def clip(path: Path, seconds: float, width: int, height: int, shade: int, fps: int = 16) -> Path:
    import numpy as np

    from wanflow.video import write_mp4

    frames = int(seconds * fps) // 4 * 4 + 1
    y, x = np.mgrid[0:height, 0:width]
    video = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        video[i, ..., 0] = ((x + i * 6) % 256).astype(np.uint8)
        video[i, ..., 1] = ((y + i * 3) % 256).astype(np.uint8)
        video[i, ..., 2] = shade
    return write_mp4(video, path, fps)


def music(path: Path, seconds: float) -> Path:
    import ffmpeg

    from postprocess.runner import run

    source = ffmpeg.input(f"sine=frequency=196:duration={seconds}", f="lavfi")
    run(source.output(str(path)), "benchmark music")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each clip")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from postprocess.compose import Options, compose
    from postprocess.tts import engine_for
    from wanflow.settings import Settings
    from wanflow.video import using_ffmpeg

    binary = Settings().ffmpeg
    with (
        tempfile.TemporaryDirectory(prefix="wanflow-bench-compose-") as tmp,
        using_ffmpeg(binary),
    ):
        folder = Path(tmp)
        clips = [
            clip(folder / f"clip-{i}.mp4", args.seconds, width, height, 40 * i % 256)
            for i in range(args.shots)
        ]
        bgm = music(folder / "bgm.wav", 20)
        narration = [NARRATION[i % len(NARRATION)] for i in range(args.shots)]
        transitions = [TRANSITIONS[i % len(TRANSITIONS)] for i in range(args.shots - 1)]
        start = time.perf_counter()
        result = compose(
            clips,
            narration,
            transitions,
            folder / "out" / "story.mp4",
            [engine_for("espeak")],
            folder / "work",
            Options(lang="zh", music=bgm, ffmpeg=binary),
        )
        wall = time.perf_counter() - start
    print(
        f"{args.shots} shots of {args.seconds:g} s at {width}x{height} → "
        f"{result.duration_s:.1f} s of video in {wall:.1f} s"
    )
    for name, seconds in sorted(result.steps.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<10} {seconds:6.2f} s  {100 * seconds / wall:5.1f} %")
    print(
        f"loudness {result.mix.integrated_lufs} LUFS, true peak {result.mix.true_peak_db} dBTP "
        f"({result.mix.normalization_type})"
    )
    print(f"speed: {result.duration_s / wall:.2f}× real time")


if __name__ == "__main__":
    main()
