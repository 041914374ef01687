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


SPECIAL = "tok<&>\"'-9f8e7d"


def test_masker_masks_html_escaped_and_repr_forms_of_a_secret_with_markup_characters():
    import html

    m = Masker([SPECIAL])
    forms = {
        "html.escape": html.escape(SPECIAL),
        "html.escape(quote=False)": html.escape(SPECIAL, quote=False),
        "markupsafe": str(__import__("markupsafe").escape(SPECIAL)),
        "repr": repr(SPECIAL),
        "json.dumps": json.dumps(SPECIAL),
        "json.dumps(ensure_ascii=False)": json.dumps(SPECIAL, ensure_ascii=False),
        "json of repr": json.dumps(repr(SPECIAL)),
        "json of html": json.dumps(html.escape(SPECIAL)),
        "html of repr": html.escape(repr(SPECIAL)),
    }
    for name, form in forms.items():
        assert "9f8e7d" in form, name
        assert "9f8e7d" not in m.text(f"before {form} after"), f"{name} form not masked: {form!r}"


def test_stream_masker_masks_a_secret_split_across_chunks():
    from nbpipe.core.masking import StreamMasker

    secret = "s3cr3t-value-123"
    text = f"line one\ntoken={secret}\nand {secret} again at the end {secret}"
    for size in (1, 2, 5, 7, len(secret) - 1, len(secret), 64):
        stream = StreamMasker(Masker([secret]))
        out = "".join(stream.feed(text[i:i + size]) for i in range(0, len(text), size)) + stream.flush()
        assert secret not in out and "s3cr3t" not in out, size
        assert out == text.replace(secret, "***"), size


def test_stream_masker_without_secrets_passes_text_through_at_once():
    from nbpipe.core.masking import StreamMasker

    stream = StreamMasker()
    assert stream.feed("abc") == "abc" and stream.flush() == ""


def test_event_log_masks_before_writing(tmp_path, monkeypatch):
    from nbpipe.core import events as ev
    from nbpipe.core.protocol import secret_variable

    log = ev.EventLog(tmp_path / "events.jsonl", source="runner", masker=Masker([SPECIAL]))
    log.emit("log", message=f"token {SPECIAL}", nested={"k": [SPECIAL]})
    # A kernel's log masks the secrets its run handed it through the environment.
    monkeypatch.setenv(secret_variable("api_token"), json.dumps(SPECIAL))
    ev.EventLog(tmp_path / "events.jsonl", source="kernel").emit("log", message=repr(SPECIAL))
    raw = (tmp_path / "events.jsonl").read_text()
    assert "9f8e7d" not in raw and raw.count("***") == 3


def test_stream_masker_holds_back_only_what_could_start_a_secret():
    from nbpipe.core.masking import StreamMasker

    stream = StreamMasker(Masker(["s3cr3t-value-123"]))
    assert stream.feed("plain line\n") == "plain line\n", "nothing here can start the secret"
    assert stream.feed("key=s3cr") == "key=", "'s3cr' may be the start of the secret"
    assert stream.feed("ew\n") == "s3crew\n" and stream.flush() == ""
