"""Dependency ordering of pipelines."""

from __future__ import annotations

import pytest

from nbpipe.core.config import PipelineConfig
from nbpipe.core.dag import levels, order
from nbpipe.errors import ConfigError


def p(reads=(), writes=(), depends_on=()):
    return PipelineConfig(notebook="x.ipynb", reads=list(reads), writes=list(writes), depends_on=list(depends_on))


FLIGHTS = {
    "daily_delay_report": p(reads=["fact_flights", "dim_carrier"], writes=["daily_delay"]),
    "fact_flights": p(reads=["flights", "dim_carrier", "dim_airport", "dim_plane"], writes=["fact_flights"]),
    "ingest_flights": p(reads=["raw_flights"], writes=["flights"]),
    "dim_carrier": p(reads=["raw_airlines"], writes=["dim_carrier"]),
    "dim_airport": p(reads=["raw_airports"], writes=["dim_airport"]),
    "dim_plane": p(reads=["raw_planes"], writes=["dim_plane"]),
}


def test_levels_follow_reads_and_writes():
    assert levels(FLIGHTS) == [
        ["dim_airport", "dim_carrier", "dim_plane", "ingest_flights"],
        ["fact_flights"],
        ["daily_delay_report"],
    ]


def test_selection_pulls_in_upstream_only():
    assert order(FLIGHTS, ["fact_flights"]) == [
        "dim_airport",
        "dim_carrier",
        "dim_plane",
        "ingest_flights",
        "fact_flights",
    ]
    assert order(FLIGHTS, ["dim_plane"]) == ["dim_plane"]


def test_cycles_and_unknown_names_are_errors():
    with pytest.raises(ConfigError, match="cycle: a → b"):
        levels({"a": p(reads=["y"], writes=["x"]), "b": p(reads=["x"], writes=["y"])})
    with pytest.raises(ConfigError, match="did you mean 'fact_flights'"):
        order(FLIGHTS, ["fact_flight"])
    with pytest.raises(ConfigError, match="written by two pipelines"):
        levels({"a": p(writes=["x"]), "b": p(writes=["x"])})
    with pytest.raises(ConfigError, match="unknown pipeline 'zz'"):
        levels({"a": p(depends_on=["zz"])})
