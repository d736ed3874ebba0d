from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.scene import SensorRule
from pipeline.sensors import (
    DEFAULT_RULES,
    UNKNOWN,
    acquired_from,
    match_rule,
    parse_datetime,
    rules_from_dicts,
)

UTC = timezone.utc


def test_default_rules_configure_sensors_by_name_and_end_with_catch_all():
    # Which sensor a scene is comes from the product registry (tests/pipeline/test_products.py);
    # default rules carry settings only and never match a path by glob.
    assert DEFAULT_RULES[-1].name == "unknown" and DEFAULT_RULES[-1].pattern == "*"
    assert all(r.pattern == "" for r in DEFAULT_RULES[:-1])
    assert match_rule("/data/aerial/S1A_x.tif", DEFAULT_RULES).name == "unknown"
    assert match_rule("/x.tif", DEFAULT_RULES, hint="sentinel1").scaling == "sar_db"
    assert match_rule("/x.tif", DEFAULT_RULES[:1]) == UNKNOWN  # no match at all


@pytest.mark.parametrize(
    "hint, sensor",
    [("Sentinel-2A", "sentinel2"), ("landsat-9", "landsat"), ("sentinel-1b", "sentinel1"),
     ("SAR", "sar"), ("planetscope", "aerial")],  # an unknown hint falls back to the path
)
def test_hint_naming_a_rule_wins(hint, sensor):
    rules = tuple(SensorRule(n, pattern="") for n in ("sentinel2", "landsat", "sentinel1", "sar")) \
        + (SensorRule("aerial", "*aerial*"),)
    assert match_rule("/flights/aerial_001.tif", rules, hint=hint).name == sensor


def test_rules_named_after_a_registry_sensor_match_by_name_only():
    rules = rules_from_dicts([{"name": "sentinel2", "bands": ["B04", "B03", "B02"]}, {"name": "mine"}])
    assert [r.pattern for r in rules] == ["", "*"]
    assert rules[0].bands == ("B04", "B03", "B02")
    assert match_rule("/d/S2A_x.tif", rules).name == "mine"
    assert match_rule("/d/S2A_x.tif", rules, hint="sentinel2").name == "sentinel2"


def test_first_matching_rule_wins():
    rules = (SensorRule("a", "*x*"), SensorRule("b", "*x*"))
    assert match_rule("/x.tif", rules).name == "a"


def test_rules_from_dicts_expands_patterns_and_tuples():
    rules = rules_from_dicts([
        {"name": "wv3", "pattern": ["*wv03*", "*worldview-3*"], "bands": [5, 3, 2],
         "band_names": ["red", "green", "blue"], "scaling": "percentile", "percentiles": [1, 99],
         "acquired_pattern": r"(?P<date>\d{2}[A-Z]{3}\d{2})?_(?P<x>\d{8})"},
        {"name": "rest"},
    ])
    assert [r.pattern for r in rules] == ["*wv03*", "*worldview-3*", "*"]
    assert rules[0].bands == (5, 3, 2) and rules[0].percentiles == (1, 99)
    assert match_rule("/a/WorldView-3_x.tif", rules).name == "wv3"


@pytest.mark.parametrize(
    "item, words",
    [
        ({"pattern": "*"}, "without a name"),
        ({"name": "x", "colour": "red"}, "unknown keys"),
        ({"name": "x", "scaling": "log"}, "scaling"),
        ({"name": "x", "out_dtype": "int8"}, "out_dtype"),
        ({"name": "x", "format": "gif"}, "format"),
        ({"name": "x", "bands": [1, 2], "band_names": ["a"]}, "differ in length"),
        ({"name": "x", "acquired_pattern": r"\d{8}"}, "date"),
        ({"name": "x", "bands": [1.5]}, "indexes or band names"),
    ],
)
def test_rules_from_dicts_rejects_bad_config(item, words):
    with pytest.raises(ValueError, match=words):
        rules_from_dicts([item])


@pytest.mark.parametrize(
    "tags, when",
    [
        ({"TIFFTAG_DATETIME": "2021:03:04 05:06:07"}, datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ({"ACQUISITIONDATETIME": "2021-03-04T05:06:07+02:00", "TIFFTAG_DATETIME": "2024:01:01 00:00:00"},
         datetime(2021, 3, 4, 3, 6, 7, tzinfo=UTC)),
        ({"datetime": "2019-12-31T23:59:59.123456789Z"},
         datetime(2019, 12, 31, 23, 59, 59, 123456, tzinfo=UTC)),
        ({"TIFFTAG_DATETIME": "0000:00:00 00:00:00"}, None),
        ({}, None),
    ],
)
def test_acquired_from_tags(tags, when):
    got = acquired_from("/x/scene.tif", tags, UNKNOWN)
    assert got == when
    if got is not None:
        assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0


def test_rule_pattern_beats_tags_and_falls_back_to_them():
    rule = SensorRule("r", acquired_pattern=r"_(?P<date>\d{8})\.")
    tags = {"DATETIME": "2001-02-03"}
    assert acquired_from("/a_20200102.tif", tags, rule) == datetime(2020, 1, 2, tzinfo=UTC)
    assert acquired_from("/a_nodate.tif", tags, rule) == datetime(2001, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", None, "yesterday", "2021-13-40"])
def test_parse_datetime_rejects_garbage(text):
    assert parse_datetime(text) is None
