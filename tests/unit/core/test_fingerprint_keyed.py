"""Keyed fingerprints of secret values (nbpipe.core.fingerprint): nothing guessable without the key."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from nbpipe.core import fingerprint as fp

KEY, OTHER_KEY = b"k" * 32, b"o" * 32
PATTERNS = ["*password*", "*token*", "*secret*", "*_key"]


def test_keyed_digest_depends_on_key_and_value_and_is_not_the_plain_hash() -> None:
    value = "hunter2"
    digest = fp.keyed_digest(KEY, value)
    assert digest.startswith("hmac-sha256:") and digest == fp.keyed_digest(KEY, value)
    assert digest != fp.keyed_digest(OTHER_KEY, value) and digest != fp.keyed_digest(KEY, "hunter3")
    assert hashlib.sha256(value.encode()).hexdigest() not in digest
    assert fp.key_id(KEY) != fp.key_id(OTHER_KEY) and len(fp.key_id(KEY)) == 16
    assert fp.key_id(KEY) not in KEY.hex()


def test_secret_safe_params_keys_only_the_secret_values() -> None:
    params = {"run_date": "2024-01-01", "api_token": "t0k3n"}
    safe = fp.secret_safe_params(params, {"api_token"}, KEY)
    assert safe["run_date"] == "2024-01-01" and safe["api_token"] == {"secret": fp.keyed_digest(KEY, "t0k3n")}
    assert fp.params_fingerprint(safe) != fp.params_fingerprint(params)


def test_secret_safe_config_keys_passwords_in_options_and_urls() -> None:
    config = {
        "format": "jdbc",
        "primary_key": ["id"],
        "options": {"url": "jdbc:postgresql://etl:pw-in-url@db:5432/shop?sslmode=require&password=pw-in-query",
                    "user": "etl", "password": "pw-option", "dbtable": "orders"},
        "conf": {"spark.hadoop.fs.s3a.secret.key": "s3-secret", "spark.sql.shuffle.partitions": "4"},
    }
    safe = fp.secret_safe_config(config, KEY, PATTERNS)
    text = fp.canonical_json(safe)
    for secret in ("pw-in-url", "pw-in-query", "pw-option", "s3-secret"):
        assert secret not in text
    assert safe["primary_key"] == ["id"] and safe["options"]["user"] == "etl"
    assert safe["options"]["url"].startswith("jdbc:postgresql://etl:hmac-sha256:")
    assert "sslmode=require" in safe["options"]["url"] and "@db:5432/shop?" in safe["options"]["url"]
    assert safe["conf"]["spark.sql.shuffle.partitions"] == "4"
    assert fp.secret_safe_config({"remote": "sc://host:15002"}, KEY, PATTERNS) == {"remote": "sc://host:15002"}


@given(st.text(min_size=1, max_size=20))
def test_changing_a_secret_changes_the_safe_config(password: str) -> None:
    base = fp.secret_safe_config({"options": {"password": "a-fixed-password"}}, KEY, PATTERNS)
    other = fp.secret_safe_config({"options": {"password": password}}, KEY, PATTERNS)
    assert (base == other) == (password == "a-fixed-password")
