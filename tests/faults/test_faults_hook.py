"""The fault hook itself: unknown points are refused; unarmed, it does nothing."""

from __future__ import annotations

import pytest

from workflows import faults


def test_unknown_point_is_refused():
    with pytest.raises(ValueError, match="unknown fault point"):
        faults._parse("tile.nowhere:1")


def test_spec_parses_name_count_and_marker():
    assert faults._parse("pack.sample:3:/tmp/m") == ("pack.sample", 3, "/tmp/m")
    assert faults._parse("tile.done") == ("tile.done", 1, None)
    assert faults._parse("") is None


def test_unarmed_hook_is_none_and_points_return(monkeypatch):
    monkeypatch.setattr(faults, "_SPEC", None)
    assert faults.hook("tile") is None
    faults.fault_point("tile.done")  # returns: this test process is still alive


def test_marker_makes_the_fault_fire_once(monkeypatch, tmp_path):
    marker = tmp_path / "m"
    marker.touch()  # as if a previous attempt already died here
    monkeypatch.setattr(faults, "_SPEC", ("tile.done", 1, str(marker)))
    monkeypatch.setattr(faults, "_calls", faults.Counter())
    faults.fault_point("tile.done")  # would SIGKILL this process without the marker
