"""One clip record from the worker to the report: nothing of it is dropped on the way, a report
written before the report kept whole records still reads, and the published metadata says of
each clip what it always said."""

from __future__ import annotations

from wanflow.clip import PUBLISHED_FIELDS, Clip
from wanflow.report import ItemOutcome

RECORD = {
    "item_id": "orion",
    "shot": 2,
    "hash": "ab" * 32,
    "key": "work/clips/abab/clip.mp4",
    "last_frame_key": "work/clips/abab/last.png",
    "model": "tiny-ti2v-5b",
    "device": "cpu",
    "dtype": "float32",
    "plan": "full",
    "speed": "sdpa",
    "width": 64,
    "height": 48,
    "frames": 17,
    "fps": 16,
    "steps": 4,
    "seed": 7,
    "image_key": "work/clips/cdcd/last.png",
    "experts": ["transformer"] * 4,
    "load_s": 1.5,
    "step_s": 0.25,
    "render_s": 3.0,
    "cached": False,
    "sha256": "1" * 64,
    "last_frame_sha256": "2" * 64,
    "warnings": ["cached clip abab is missing a file: rendered again"],
}


def test_the_report_keeps_the_whole_record():
    outcome = ItemOutcome(id="orion", status="generated", clips=[Clip.model_validate(RECORD)])
    again = ItemOutcome.model_validate_json(outcome.model_dump_json())
    assert again.clips[0].model_dump() == RECORD


def test_a_report_written_with_abridged_clips_still_reads():
    abridged = {k: v for k, v in RECORD.items() if k in PUBLISHED_FIELDS}
    outcome = ItemOutcome.model_validate(
        {"id": "orion", "status": "generated", "clips": [abridged]}
    )
    clip = outcome.clips[0]
    assert clip.hash == RECORD["hash"] and clip.render_s == 3.0
    assert (clip.item_id, clip.dtype, clip.steps, clip.seed) == ("", "", None, None)


def test_the_published_fields_are_what_the_report_used_to_keep():
    assert {
        "shot", "key", "last_frame_key", "hash", "model", "device", "plan", "speed", "width",
        "height", "frames", "fps", "cached", "load_s", "step_s", "render_s",
    } == PUBLISHED_FIELDS  # fmt: skip
    assert set(Clip.model_fields) > PUBLISHED_FIELDS


def test_generation_hands_the_same_model_around():
    """The record a worker builds is the core's model itself, not a look-alike of it."""
    import numpy as np

    from generation.clips import ClipJob, clip_record
    from generation.render import Rendered, ShotRequest

    request = ShotRequest(
        prompt="a fox", seed=7, width=48, height=32, num_frames=5, fps=16, steps=2,
        guidance=5.0, shift=5.0,
    )  # fmt: skip
    rendered = Rendered(
        frames=np.zeros((5, 32, 48, 3), np.float32), fps=16, model="tiny-ti2v-5b", device="cpu",
        dtype="float32", plan="full", speed="sdpa", experts=["transformer"], load_s=0.5,
        encode_s=0.1, step_s=0.25, decode_s=0.1, total_s=1.0, width=48, height=32,
    )  # fmt: skip
    job = ClipJob(item_id="orion", shot=2, model="tiny-ti2v-5b", request=request)
    record = clip_record(job, "ab" * 32, rendered, request, ("cd" * 32, "ef" * 32), [])
    assert type(record) is Clip
    assert record.key == "work/clips/" + "ab" * 32 + "/clip.mp4" and record.frames == 5
