"""What the bucket is told of an object: content types by name, user metadata carried exactly."""

from __future__ import annotations

import pytest

from wanflow.objects import META_PREFIX, content_type_for, decode_meta, encode_meta


def test_metadata_survives_the_ascii_headers_exactly():
    meta = {"Title": "猎户座 100% rise", "item-id": "orion_1"}
    encoded = encode_meta(meta)
    assert all(value.isascii() for value in encoded.values())
    headers = {META_PREFIX + name: value for name, value in encoded.items()}
    headers["Content-Type"] = "video/mp4"  # not user metadata: left out
    assert decode_meta(headers) == {"title": "猎户座 100% rise", "item-id": "orion_1"}


def test_a_metadata_name_outside_ascii_letters_digits_dash_underscore_is_refused():
    with pytest.raises(ValueError, match="metadata name"):
        encode_meta({"标题": "x"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "text/csv; charset=utf-8"),
        ("video.MP4", "video/mp4"),
        ("subtitles.vtt", "text/vtt"),
        ("thumbnail.jpg", "image/jpeg"),
        ("no-suffix", "application/octet-stream"),
    ],
)
def test_content_types_by_name(name, expected):
    assert content_type_for(name) == expected


def test_storage_still_exports_what_its_importers_use():
    from wanflow import storage
    from wanflow.claims import Claim

    assert storage.Claim is Claim and storage.ObjectInfo.__module__ == "wanflow.objects"
    for name in storage.__all__:
        assert hasattr(storage, name)
