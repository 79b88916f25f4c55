"""A rendered shot: where its files are in the bucket and what made them.

One record travels the whole way: the GPU worker writes it as the clip's ``meta.json``, the
dispatcher returns it, the run report keeps it in the item's ``clips`` and the published
metadata quotes it. The core owns it because the report needs it and the core never imports
``generation``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# What the published metadata.json says of each clip: how it was made and where, but not the
# worker's own bookkeeping (checksums, reference image, warnings), as it always has.
PUBLISHED_FIELDS = frozenset(
    {
        "shot",
        "key",
        "last_frame_key",
        "hash",
        "model",
        "device",
        "plan",
        "speed",
        "width",
        "height",
        "frames",
        "fps",
        "cached",
        "load_s",
        "step_s",
        "render_s",
    }
)


class Clip(BaseModel):
    """Where a rendered clip is and how it was made.

    ``item_id``, ``dtype``, ``steps`` and ``seed`` have defaults only because reports written
    before the report kept whole records lack them; a worker always sets them.
    """

    item_id: str = ""
    shot: int
    hash: str
    key: str
    last_frame_key: str
    model: str
    device: str
    dtype: str = ""
    plan: str = Field(description="the memory plan that ran")
    speed: str = Field("", description="attention backend, +compiled when blocks were compiled")
    width: int
    height: int
    frames: int
    fps: int
    steps: int | None = None
    seed: int | None = None
    image_key: str | None = None
    experts: list[str] = Field(default_factory=list)
    load_s: float = 0.0
    step_s: float = 0.0
    render_s: float = 0.0
    cached: bool = Field(False, description="found in the bucket; no GPU time spent")
    sha256: str = Field("", description="of clip.mp4 as rendered; checked before reuse")
    last_frame_sha256: str = Field("", description="of last.png as rendered")
    warnings: list[str] = Field(default_factory=list, description="e.g. a cached clip redone")


__all__ = ["PUBLISHED_FIELDS", "Clip"]
