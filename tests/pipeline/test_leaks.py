import pyarrow as pa

from pipeline.leaks import cross_split_pairs


def _table(hashes, splits):
    return pa.table({"tile_id": [f"t{i}" for i in range(len(hashes))], "split": splits,
                     "phash": pa.array(hashes, pa.uint64())})


def test_near_duplicates_across_splits_are_reported_and_within_a_split_are_not():
    base = 0x0F0F_F0F0_1234_5678
    far = base ^ 0xFFFF_FFFF_0000_0000  # 32 bits away
    table = _table([base, base ^ 0b111, far, far ^ 0b1, None], ["train", "test", "val", "val", "test"])
    leaks = cross_split_pairs(table, max_distance=4)
    assert leaks["checked"] == 4
    assert leaks["pairs"] == 1
    assert leaks["examples"] == [["t0", "t1", 3, "train", "test"]]
    assert leaks["by_splits"] == {"test/train": 1}
    assert cross_split_pairs(table, max_distance=2)["pairs"] == 0


def test_cross_corpus_pairs_keep_only_pairs_across_the_two_tables():
    import pyarrow as pa

    from pipeline.leaks import cross_corpus_pairs

    base = 0x0F0F_0F0F_0F0F_0F0F
    corpus = pa.table({"phash": pa.array([base, base ^ 0b1, 0xFFFF_0000_FFFF_0000, None], pa.uint64())})
    against = pa.table({"phash": pa.array([0x1234_5678_9ABC_DEF0, base ^ 0b111], pa.uint64())})
    # corpus rows 0 and 1 are near each other (not reported: same side); both are near against row 1
    assert cross_corpus_pairs(corpus, against, 4) == [(1, 1, 2), (0, 1, 3)]
    assert cross_corpus_pairs(corpus, against, 1) == []
