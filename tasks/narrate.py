"""The narrate stage: each item's narration spoken before generation, so that the speech sets
how long each shot is and the generator renders the frames it needs (``timing.time_shots``).

The WAVs go to ``work/<run>/<item>/narration/`` under the names ``tts.narrate`` gives them (a
hash of text, language, engine, voice and rate); compose downloads them into its narration
folder and ``narrate`` finds them there instead of speaking again.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from generation.plan import ShotPlan
from tasks.manifest import _RETRIES, storage
from wanflow import keys
from wanflow.report import Narration
from wanflow.settings import Settings, get_settings

NARRATION_DIR = "narration"


def _narrate_key(context, parameters: dict) -> str:
    """Same run, plan, voice and rate: the narration is found again after a crash or a
    suspension, and nothing is spoken twice."""
    plan: ShotPlan = parameters["plan"]
    text = "|".join(
        (
            parameters["run_id"],
            plan.model_dump_json(),
            str(parameters.get("voice")),
            str(parameters.get("rate")),
            get_settings().model_dump_json(include={"tts_engine", "tts_rate", "piper_voices"}),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


@task(name="narrate-item", timeout_seconds=900, cache_key_fn=_narrate_key, **_RETRIES)
def narrate_item(run_id: str, plan: ShotPlan, voice: str | None, rate: float | None) -> Narration:
    """Speak every shot's narration; ``speech_s`` per shot is what timing needs."""
    from postprocess.compose import options_from, speak, speech_s, voice_for

    settings, store = get_settings(), storage()
    chosen = voice_for(settings, voice, rate, plan.language)
    options = options_from(settings, lang=plan.language, music=None, voice=chosen)
    with tempfile.TemporaryDirectory(prefix="wanflow-narrate-") as tmp:
        shots = speak([s.narration for s in plan.shots], chosen.engines, Path(tmp), options)
        files = {}
        for sentences in shots:
            for sentence in sentences:
                for utterance in sentence.utterances:
                    name = utterance.path.name
                    key = keys.work_key(run_id, plan.item_id, f"{NARRATION_DIR}/{name}")
                    store.put_file(key, utterance.path)
                    files[name] = key
    narration = Narration(
        voice=chosen.label,
        rate=chosen.rate,
        speech_s=[round(speech_s(sentences), 4) for sentences in shots],
        files=files,
        sentences=sum(len(sentences) for sentences in shots),
    )
    get_run_logger().info(
        "%s: %d sentence(s), %.1f s of speech (%s)",
        plan.item_id,
        narration.sentences,
        sum(narration.speech_s),
        narration.voice,
    )
    return narration


def retime(plan: ShotPlan, narration: Narration, settings: Settings) -> ShotPlan:
    """The plan with each shot as long as its speech needs (``timing.time_shots``): frame counts
    for the generator, durations for the report. Shots without narration keep their length."""
    from postprocess.timing import time_shots

    params = plan.params
    max_frames = params.max_frames - (params.max_frames - 1) % 4
    overlaps = [
        settings.transition_s if shot.transition not in (None, "cut") else 0.0
        for shot in plan.shots[:-1]
    ]
    timeline = time_shots(
        narration.speech_s,
        [shot.duration_s for shot in plan.shots],
        fps=params.fps,
        max_frames=max_frames,
        min_shot_s=min(2.0, min(shot.duration_s for shot in plan.shots)),
        lead_s=settings.narration_padding_s,
        tail_s=settings.narration_padding_s,
        transitions_s=overlaps,
        policy=settings.extend_policy,
    )
    shots = [
        shot.model_copy(
            update={"num_frames": timed.num_frames, "duration_s": round(timed.duration_s, 3)}
        )
        for shot, timed in zip(plan.shots, timeline.shots, strict=True)
    ]
    warnings = list(plan.warnings)
    extended = [t.index for t in timeline.shots if t.extended]
    if extended:
        how = "held on its last frame" if settings.extend_policy == "hold" else "slowed"
        warnings.append(
            f"narration outlasts the model's longest clip ({max_frames} frames) in shot(s) "
            f"{', '.join(map(str, extended))}: the clip is {how}; split the sentence to avoid it"
        )
    return plan.model_copy(update={"shots": shots, "warnings": warnings})


__all__ = ["NARRATION_DIR", "narrate_item", "retime"]
