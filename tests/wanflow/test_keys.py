"""Object keys are built only from validated parts."""

from __future__ import annotations

from datetime import date

import pytest

from wanflow import keys


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "a\\b", " lead", "trail ", "nul\x00", "zw\u200bsp", "x" * 256]
)
def test_unsafe_parts_are_refused(bad):
    with pytest.raises(keys.InvalidKeyError):
        keys.check_part(bad)


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "a/../b", "a/./b", "a/"])
def test_unsafe_keys_are_refused(bad):
    with pytest.raises(keys.InvalidKeyError):
        keys.check_key(bad)


def test_chinese_names_are_fine():
    assert keys.manifest_key(keys.INCOMING, "星座/神话.csv") == "incoming/星座/神话.csv"


def test_manifest_names_round_trip_between_states():
    name = keys.manifest_name("processing/team-a/x.csv")
    assert name == "team-a/x.csv"
    assert keys.manifest_key(keys.PROCESSED, name) == "processed/team-a/x.csv"
    with pytest.raises(keys.InvalidKeyError, match="not under"):
        keys.manifest_name("reports/x.csv")
    with pytest.raises(keys.InvalidKeyError):
        keys.manifest_key("elsewhere/", "x.csv")


def test_layout_keys():
    day = date(2026, 11, 23)
    assert keys.report_key("20261123T020000Z-abc", day) == (
        "reports/2026-11-23/20261123T020000Z-abc.json"
    )
    assert keys.published_key(day, "orion", "video.mp4") == "published/2026-11-23/orion/video.mp4"
    assert keys.work_key("run1", "orion", "clip.mp4") == "work/run1/orion/clip.mp4"
    with pytest.raises(keys.InvalidKeyError):
        keys.published_key(day, "../x", "video.mp4")
    with pytest.raises(keys.InvalidKeyError):
        keys.report_key("../../etc", day)
