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
from tasks.common import RETRIES, storage
from wanflow import keys
from wanflow.report import Narration
from wanflow.settings import Settings

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
            parameters["settings"].model_dump_json(
                include={"tts_engine", "tts_rate", "piper_voices"}
            ),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


@task(name="narrate-item", timeout_seconds=900, cache_key_fn=_narrate_key, **RETRIES)
def narrate_item(
    run_id: str, plan: ShotPlan, voice: str | None, rate: float | None, settings: Settings
) -> Narration:
    """Speak every shot's narration; ``speech_s`` per shot is what timing needs."""
    from postprocess.compose import options_from, speak, speech_s, voice_for

    store = storage(settings)
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


__all__ = ["NARRATION_DIR", "narrate_item"]
