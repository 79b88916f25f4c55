"""A shot plan re-timed by its measured narration.

Narration is spoken before generation, so its length sets each shot's frame count
(:func:`postprocess.timing.time_shots`). A sentence longer than the model's longest clip cannot
be rendered in one clip: the plan then carries a warning that says which shots are extended,
how, and what the author can do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postprocess.timing import time_shots

if TYPE_CHECKING:
    from generation.plan import ShotPlan
    from wanflow.report import Narration
    from wanflow.settings import Settings


def retime(plan: ShotPlan, narration: Narration, settings: Settings) -> ShotPlan:
    """The plan with each shot as long as its speech needs: frame counts for the generator,
    durations for the report. Shots without narration keep their length."""
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


__all__ = ["retime"]
