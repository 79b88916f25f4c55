"""The review, the audit log and narration timing run without Prefect (the CLI reviews a local
file with them); an item's sheet numbers its clips' frames in one sequence."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from moderation.item_review import SHOT_STRIDE, item_flags, item_frame
from moderation.signals import Frame
from tests.conftest import ROOT


def test_the_pure_modules_do_not_import_prefect():
    code = (
        "import sys\n"
        "import moderation.audit, moderation.item_review, postprocess.retime\n"
        "from moderation.item_review import review_clip_file\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'prefect'], 'prefect imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_frames_of_an_items_clips_are_numbered_by_shot_then_frame():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    first, later = Frame(3, 0.1, image), Frame(3, 0.1, image)
    assert item_frame(1, first).index == SHOT_STRIDE + 3
    assert item_frame(2, later).index == 2 * SHOT_STRIDE + 3
    assert item_frame(1, first).time_s == 0.1 and first.index == 3  # the clip's frame is kept
    assert item_flags(2, {3: "violence 0.91"}) == {2 * SHOT_STRIDE + 3: "violence 0.91"}
