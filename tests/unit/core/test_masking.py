"""Secret masking of text and data (pure)."""

from __future__ import annotations

import json

from nbpipe.core.masking import Masker


def test_masker_masks_values_and_their_json_forms():
    m = Masker(['p@ss"w0rd', "ab"])  # "ab" is too short to mask safely
    assert m.text('token p@ss"w0rd!') == "token ***!"
    assert m.text(json.dumps({"x": 'p@ss"w0rd'})) == '{"x": "***"}'
    assert m.data({"k": ['p@ss"w0rd', 1]}) == {"k": ["***", 1]}
    assert m.text("ab stays") == "ab stays"
    assert not Masker([])
