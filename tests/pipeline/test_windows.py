import numpy as np
import pytest

from pipeline.windows import (
    TileGrid, chunk_columns, clip_window, grid_key, grid_windows, sample_gsd, source_window_size,
    strip_window, tile_rows,
)


def test_exact_fit_is_row_major_without_overlap():
    w = grid_windows(1024, 512, 10.0, TileGrid(256))
    assert w.shape == (8, 4)
    assert w[:4, 0].tolist() == [0, 256, 512, 768] and set(w[:4, 1]) == {0}
    assert w[4:, 1].tolist() == [256] * 4
    assert (w[:, 2:] == 256).all()


@pytest.mark.parametrize("edge, cols", [("pad", [0, 256, 512]), ("drop", [0, 256])])
def test_edge_pad_keeps_partial_tiles_and_drop_removes_them(edge, cols):
    w = grid_windows(600, 256, None, TileGrid(256, edge=edge))
    assert w[:, 0].tolist() == cols
    assert (w[:, 2] == 256).all()  # padded windows keep their nominal size


def test_overlapping_stride():
    assert grid_windows(512, 256, None, TileGrid(256, stride=128))[:, 0].tolist() == [0, 128, 256]
    pad = grid_windows(520, 256, None, TileGrid(256, stride=128))
    drop = grid_windows(520, 256, None, TileGrid(256, stride=128, edge="drop"))
    assert pad[:, 0].tolist() == [0, 128, 256, 384]
    assert drop[:, 0].tolist() == [0, 128, 256]


def test_scene_smaller_than_a_tile():
    assert grid_windows(100, 80, None, TileGrid(256)).tolist() == [[0, 0, 256, 256]]
    assert grid_windows(100, 80, None, TileGrid(256, edge="drop")).shape == (0, 4)


@pytest.mark.parametrize("width, height, stride", [(1000, 777, None), (513, 900, 200), (256, 256, 100)])
def test_padded_grid_covers_every_pixel(width, height, stride):
    covered = np.zeros((height, width), bool)
    for c, r, w, h in grid_windows(width, height, None, TileGrid(256, stride=stride)):
        covered[r:r + h, c:c + w] = True
    assert covered.all()


def test_resampling_window_covers_target_ground():
    grid = TileGrid(256, target_gsd_m=20.0)
    assert source_window_size(10.0, grid) == (512, 512)
    w = grid_windows(1024, 1024, 10.0, grid)
    assert w[:, 0].tolist() == [0, 512, 0, 512] and (w[:, 2] == 512).all()
    assert sample_gsd(10.0, grid) == pytest.approx(20.0)


def test_fractional_scale_rounds_window_and_reports_true_gsd():
    grid = TileGrid(256, target_gsd_m=0.5)
    size, _ = source_window_size(0.3, grid)
    assert size == 427
    assert sample_gsd(0.3, grid) == pytest.approx(0.3 * 427 / 256)


def test_unknown_gsd_tiles_natively():
    assert source_window_size(None, TileGrid(256, target_gsd_m=10.0)) == (256, 256)


def test_grid_key_changes_with_every_parameter():
    keys = {grid_key(g) for g in [TileGrid(256), TileGrid(512), TileGrid(256, stride=128),
                                  TileGrid(256, target_gsd_m=10), TileGrid(256, edge="drop")]}
    assert len(keys) == 5
    assert grid_key(TileGrid(256)) == grid_key(TileGrid(256, stride=256))


@pytest.mark.parametrize("kwargs", [dict(tile_size=0), dict(stride=-1), dict(edge="wrap"),
                                    dict(target_gsd_m=0.0)])
def test_invalid_grids_are_rejected(kwargs):
    with pytest.raises(ValueError):
        TileGrid(**{"tile_size": 256, **kwargs})


def test_tile_rows_and_chunks_bound_strip_width():
    w = grid_windows(2048, 512, None, TileGrid(256))
    rows = tile_rows(w)
    assert [len(r) for r in rows] == [8, 8]
    assert all(len(set(w[r, 1])) == 1 for r in rows)
    chunks = chunk_columns(w, rows[0], max_cols=700, block_cols=512)
    assert sum(len(c) for c in chunks) == 8
    for c in chunks:
        assert strip_window(w, c)[2] <= 700
        assert w[c[0], 0] % 512 == 0  # chunk starts fall on source block edges


def test_chunk_always_holds_at_least_one_tile():
    w = grid_windows(1024, 256, None, TileGrid(256))
    chunks = chunk_columns(w, tile_rows(w)[0], max_cols=10)
    assert [len(c) for c in chunks] == [1, 1, 1, 1]


def test_clip_window():
    assert clip_window((512, 0, 256, 256), 600, 200) == (512, 0, 88, 200)
    assert clip_window((700, 0, 256, 256), 600, 200)[2] == 0


def test_edge_shift_ends_the_last_window_at_the_scene_edge():
    """DOTA's ImgSplit: 1024 px tiles, stride 824 over 2000 px -> 0, 824, then 976 (= 2000 - 1024)."""
    w = grid_windows(2000, 1024, None, TileGrid(1024, stride=824, edge="shift"))
    assert sorted(set(w[:, 0].tolist())) == [0, 824, 976] and set(w[:, 1].tolist()) == {0}
    assert (w[:, 0] + w[:, 2]).max() == 2000
    assert grid_windows(1848, 1024, None, TileGrid(1024, stride=824, edge="shift"))[:, 0].tolist() == [0, 824]
    assert grid_windows(800, 600, None, TileGrid(1024, edge="shift")).tolist() == [[0, 0, 1024, 1024]]
