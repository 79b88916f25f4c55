"""Post-production speed on the CPU: a 720p story of 6 shots (about 30 s) composed end to end.

Prints the compose time as a multiple of real time (video seconds per wall second; above 1 is
faster than real time) and each step's share: narrate (espeak-ng), normalise (only clips not
already in the video's format), join (xfade, x264), mix (ducking, one loudness gain, AAC),
mux, check, thumbnail. The mix runs while the picture is joined, so the shares of the two
overlap and the total can pass 100 %. Clips are synthetic moving gradients —
x264 spends about as long on them as on real footage of the same size. Asserts nothing. Every
ffmpeg run is the ``WANFLOW_FFMPEG`` binary's when set, as in the pipeline.

Then the same story against what a user would write by hand: espeak-ng for each sentence and
one ffmpeg command (each clip held on its last frame until its sentence ends, as Wanflow does,
so both videos are about as long; joined with ``xfade`` and the same transitions; each sentence
put at its shot with ``adelay`` and mixed with ``amix``; the music looped and ducked under them
with ``sidechaincompress``; one-pass ``loudnorm``; x264 ``veryfast`` CRF 20, AAC). No
subtitles, thumbnail or checks: what Wanflow adds costs what the ratio shows. The two run in
turn, ``--repeats`` times each (see benchmarks/compare.py), into fresh folders.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/compose.py [--shots 6] [--seconds 5] \
        [--size 1280x720] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
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
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, in turn")
    parser.add_argument("--json", action="store_true", help="last line: the comparison as JSON")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from postprocess.compose import Options, compose
    from postprocess.tts import engine_for
    from wanflow.settings import Settings
    from wanflow.video import using_ffmpeg

    binary = Settings().ffmpeg
    with (
        tempfile.TemporaryDirectory(prefix="wanflow-bench-compose-") as tmp,
        using_ffmpeg(binary) as exe,
    ):
        folder = Path(tmp)
        clips = [
            clip(folder / f"clip-{i}.mp4", args.seconds, width, height, 40 * i % 256)
            for i in range(args.shots)
        ]
        bgm = music(folder / "bgm.wav", 20)
        narration = [NARRATION[i % len(NARRATION)] for i in range(args.shots)]
        transitions = [TRANSITIONS[i % len(TRANSITIONS)] for i in range(args.shots - 1)]
        story = Story(clips, narration, transitions, bgm, args.seconds)

        def ours(out: Path):
            return compose(
                clips,
                narration,
                transitions,
                out / "story.mp4",
                [engine_for("espeak")],
                out / "work",
                Options(lang="zh", music=bgm, ffmpeg=binary),
            )

        start = time.perf_counter()
        result = ours(folder / "out")
        wall = time.perf_counter() - start
        print(
            f"{args.shots} shots of {args.seconds:g} s at {width}x{height} → "
            f"{result.duration_s:.1f} s of video in {wall:.1f} s"
        )
        for name, seconds in sorted(result.steps.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<10} {seconds:6.2f} s  {100 * seconds / wall:5.1f} %")
        print(
            f"loudness {result.mix.integrated_lufs} LUFS, true peak {result.mix.true_peak_db} "
            f"dBTP ({result.mix.normalization_type})"
        )
        print(f"speed: {result.duration_s / wall:.2f}× real time")

        from benchmarks.compare import alternate, report

        runs = iter(range(1_000_000))
        durations = {"wanflow": result.duration_s}
        durations["baseline"] = baseline(story, folder / "baseline", exe)
        comparison = alternate(
            lambda: ours(folder / f"w{next(runs)}"),
            lambda: baseline(story, folder / f"b{next(runs)}", exe),
            args.repeats,
        )
    print(
        f"against espeak-ng + one ffmpeg command ({durations['baseline']:.1f} s of video, "
        f"Wanflow's {durations['wanflow']:.1f} s):"
    )
    print(
        f"speed: Wanflow {durations['wanflow'] / comparison.wanflow_s:.2f}× real time, "
        f"by hand {durations['baseline'] / comparison.baseline_s:.2f}×"
    )
    report(
        comparison,
        args.json,
        benchmark="compose",
        shots=args.shots,
        seconds=args.seconds,
        size=args.size,
        wanflow_video_s=round(durations["wanflow"], 3),
        baseline_video_s=round(durations["baseline"], 3),
        wanflow_realtime=round(durations["wanflow"] / comparison.wanflow_s, 3),
        baseline_realtime=round(durations["baseline"] / comparison.baseline_s, 3),
    )


@dataclass
class Story:
    clips: list[Path]
    narration: list[str]
    transitions: list[str]
    music: Path
    clip_s: float  # what clip() was asked for; the file is whole frames long
    transition_s: float = 0.5
    fps: int = 16
    padding_s: float = 0.5  # after a sentence, before its shot ends

    @property
    def clip_length_s(self) -> float:
        return (int(self.clip_s * self.fps) // 4 * 4 + 1) / self.fps

    def shots_s(self, voices: list[float]) -> list[float]:
        """Each shot as long as its clip, or held on its last frame until its sentence ends."""
        return [max(self.clip_length_s, v + self.padding_s) for v in voices]


def _seconds(wav: Path) -> float:
    with wave.open(str(wav)) as f:
        return f.getnframes() / f.getframerate()


def baseline(story: Story, out: Path, binary: str) -> float:
    """By hand: espeak-ng per sentence, then one ffmpeg command for picture and sound. Returns
    the video's length."""
    import subprocess

    from postprocess.assemble import TRANSITIONS  # the editor's names → xfade's

    out.mkdir(parents=True)
    voices = []
    for i, sentence in enumerate(story.narration):
        wav = out / f"n{i}.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(wav), sentence], check=True)
        voices.append(wav)
    shots = story.shots_s([_seconds(v) for v in voices])
    starts = [sum(shots[:i]) - i * story.transition_s for i in range(len(shots))]
    total = starts[-1] + shots[-1]
    count = len(story.clips)
    inputs = [arg for clip in story.clips for arg in ("-i", str(clip))]
    inputs += [arg for wav in voices for arg in ("-i", str(wav))]
    inputs += ["-stream_loop", "-1", "-i", str(story.music)]
    graph = []
    for i, shot in enumerate(shots):
        hold = shot - story.clip_length_s
        graph.append(f"[{i}:v]tpad=stop_mode=clone:stop_duration={hold:.4f}[s{i}]")
    last = "s0"
    for i, name in enumerate(story.transitions, start=1):
        kind = TRANSITIONS[name] or "fade"
        graph.append(
            f"[{last}][s{i}]xfade=transition={kind}:duration={story.transition_s}:"
            f"offset={starts[i]:.4f}[v{i}]"
        )
        last = f"v{i}"
    graph.append(f"[{last}]format=yuv420p[video]")
    for i in range(count):
        graph.append(f"[{count + i}:a]adelay={round(starts[i] * 1000)}:all=1[n{i}]")
    graph.append(f"{''.join(f'[n{i}]' for i in range(count))}amix=inputs={count}:normalize=0,")
    graph[-1] += "asplit=2[voice][key]"
    graph.append(f"[{2 * count}:a]volume=0.3[bed]")
    graph.append("[bed][key]sidechaincompress=threshold=0.03:ratio=8:release=400[ducked]")
    graph.append(
        "[voice][ducked]amix=inputs=2:normalize=0,loudnorm=I=-16:TP=-1.5:LRA=11,"
        "aresample=48000[audio]"
    )
    command = [binary, "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph)]
    command += ["-map", "[video]", "-map", "[audio]", "-t", f"{total:.3f}"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac"]
    command += ["-b:a", "192k", "-movflags", "+faststart", str(out / "story.mp4")]
    subprocess.run(command, check=True)
    return total


if __name__ == "__main__":
    main()
