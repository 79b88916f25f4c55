"""The compose task: an approved item's clips, narration and music → its finished video in
``work/<run>/<item>/final/`` (publication copies it from there).

Music comes from the bucket's library (``config/bgm/index.toml``), or from the one shipped with
Wanflow when the bucket keeps none; a bad index fails the item with the index's own error, never
silently drops the music.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from generation.plan import ShotPlan
from postprocess.music import INDEX_KEY, SHIPPED_DIR, Library, Track, shipped
from tasks.common import RETRIES, storage
from tasks.narrate import NARRATION_DIR
from wanflow import keys
from wanflow.publication import FINAL_FILES
from wanflow.report import Clip, Final, Narration
from wanflow.settings import Settings
from wanflow.storage import ObjectNotFoundError, Storage


def _compose_key(context, parameters: dict) -> str:
    """Same run, item, clips and narration: the finished video is found again (a re-run after
    a suspension does not compose twice where results are persisted). The settings are not
    part of the key: they hold secrets, and a run keeps its settings."""
    plan: ShotPlan = parameters["plan"]
    clips = ",".join(c.hash for c in parameters["clips"])
    narration = parameters.get("narration")
    spoken = narration.model_dump_json() if narration else ""
    text = "|".join(
        (
            parameters["run_id"],
            plan.model_dump_json(),
            clips,
            str(parameters["bgm"]),
            spoken,
            str(parameters.get("voice")),
            str(parameters.get("rate")),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def music_for(
    store: Storage, bgm: str | None, moods: list[str], seed: int, folder: Path
) -> tuple[Track | None, Path | None]:
    """The item's track and a local file of it (the bucket's fetched into ``folder``), or
    ``(None, None)``. The bucket's library when it keeps an index, even an empty one; Wanflow's
    own when it keeps none, so an item is never silent for want of one."""
    try:
        index = store.get_bytes(INDEX_KEY).decode("utf-8")
    except ObjectNotFoundError:
        track = shipped().choose(bgm, moods, seed)
        return track, (SHIPPED_DIR / track.file if track else None)
    track = Library.parse(index, INDEX_KEY).choose(bgm, moods, seed)
    if track is None:
        return None, None
    return track, store.download(track.key, folder / Path(track.file).name)


@task(name="compose-item", timeout_seconds=3600, cache_key_fn=_compose_key, **RETRIES)
def compose_item(
    run_id: str,
    plan: ShotPlan,
    clips: list[Clip],
    bgm: str | None,
    moods: list[str],
    narration: Narration | None = None,
    voice: str | None = None,
    rate: float | None = None,
    *,
    settings: Settings,
) -> Final:
    """Finish one item. ``narration`` is what the narrate stage spoke: its WAVs are laid on the
    timeline as they are (the shots were timed by them); without it, compose speaks.
    ``settings`` are the run's: its bucket, voices and ffmpeg."""
    from postprocess.compose import compose, options_from, voice_for

    store, logger = storage(settings), get_run_logger()
    ordered = sorted(clips, key=lambda c: c.shot)
    shots = {shot.index: shot for shot in plan.shots}
    with tempfile.TemporaryDirectory(prefix="wanflow-compose-") as tmp:
        work = Path(tmp)
        for name, key in (narration.files if narration else {}).items():
            store.download(key, work / "work" / NARRATION_DIR / name)
        local = [store.download(c.key, work / f"clip-{c.shot}.mp4") for c in ordered]
        track, music = music_for(store, bgm, moods, plan.seed, work / "bgm")
        chosen = voice_for(settings, voice, rate, plan.language)
        options = options_from(settings, lang=plan.language, music=music, voice=chosen)
        result = compose(
            local,
            [shots[c.shot].narration for c in ordered],
            [shots[c.shot].transition for c in ordered[:-1]],
            work / "final" / "video.mp4",
            chosen.engines,
            work / "work",
            options,
        )
        local_files = {
            "video.mp4": result.video,
            "subtitles.srt": result.srt,
            "subtitles.vtt": result.vtt,
            "thumbnail.jpg": result.thumbnail,
            "poster.jpg": result.poster,
        }
        written = {}
        for name in FINAL_FILES:
            key = keys.work_key(run_id, plan.item_id, f"final/{name}")
            store.put_file(key, local_files[name])
            written[name] = key
    logger.info(
        "%s: %.1f s composed, %s LUFS (%s); %s",
        plan.item_id,
        result.duration_s,
        result.mix.integrated_lufs,
        result.mix.normalization_type,
        ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.steps.items()),
    )
    return Final(
        files=written,
        duration_s=round(result.duration_s, 3),
        loudness_lufs=result.mix.integrated_lufs,
        true_peak_db=result.mix.true_peak_db,
        normalization=result.mix.normalization_type,
        music=track.id if track else None,
        music_licence=track.licence if track else None,
        sentences=result.sentences,
    )
