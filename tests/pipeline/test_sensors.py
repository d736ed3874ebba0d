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


@pytest.mark.parametrize(
    "uri, sensor, when",
    [
        ("/d/S2B_MSIL2A_20230615T103629_N0509_R008_T31UFQ_20230615T171200.tif", "sentinel2",
         datetime(2023, 6, 15, 10, 36, 29, tzinfo=UTC)),
        ("s3://bucket/tiles/T31UFQ_20230615T103629_B04_10m.jp2", "sentinel2",
         datetime(2023, 6, 15, 10, 36, 29, tzinfo=UTC)),
        ("/d/LC08_L2SP_044034_20200101_20200110_02_T1_SR_B4.TIF", "landsat",
         datetime(2020, 1, 1, tzinfo=UTC)),
        ("https://h/S1A_IW_GRDH_1SDV_20230101T054512_20230101T054537_046581_059512_1234.tiff",
         "sentinel1", datetime(2023, 1, 1, 5, 45, 12, tzinfo=UTC)),
        ("/data/capella/scene_x.tif", "sar", None),
        ("/data/city_sar_2020.tif", "sar", None),
        ("/naip/m_3807537_ne_18_060_20180827.tif", "aerial", datetime(2018, 8, 27, tzinfo=UTC)),
        ("C:\\flights\\Ortho\\tile.tif", "aerial", None),
        ("/data/sargasso_sea.tif", "unknown", None),
        ("/data/whatever.tif", "unknown", None),
    ],
)
def test_default_rules(uri, sensor, when):
    rule = match_rule(uri, DEFAULT_RULES)
    assert rule.name == sensor
    assert acquired_from(uri, {}, rule) == when


def test_default_rules_end_with_catch_all():
    assert DEFAULT_RULES[-1].name == "unknown" and DEFAULT_RULES[-1].pattern == "*"
    assert {"sentinel2", "landsat", "sentinel1", "sar", "aerial"} <= {r.name for r in DEFAULT_RULES}
    assert match_rule("/x.tif", DEFAULT_RULES[:1]) == UNKNOWN  # no match at all


@pytest.mark.parametrize(
    "hint, sensor",
    [("Sentinel-2A", "sentinel2"), ("landsat-9", "landsat"), ("sentinel-1b", "sentinel1"),
     ("SAR", "sar"), ("planetscope", "aerial")],  # an unknown hint falls back to the path
)
def test_hint_naming_a_rule_wins(hint, sensor):
    assert match_rule("/flights/aerial_001.tif", DEFAULT_RULES, hint=hint).name == sensor


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
