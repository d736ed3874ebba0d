import numpy as np
import pytest

from training.plan import StreamConfig, batches_per_epoch, buffer_shuffle, plan_epoch

COUNTS = np.array([5, 7, 3, 9, 1, 8, 4])  # 37 samples in 7 shards: no multiple of anything


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("buffer", [0, 10])
def test_every_rank_gets_equal_batches_and_no_sample_twice(world, buffer):
    cfg = StreamConfig(seed=5, batch_size=4, shuffle_buffer=buffer)
    for epoch in range(3):
        plans = [plan_epoch(COUNTS, cfg, epoch, rank, world) for rank in range(world)]
        expected = batches_per_epoch(int(COUNTS.sum()), cfg, world)
        assert expected > 0
        assert all(p.shape == (expected, 4) for p in plans)
        seen = np.concatenate([p.ravel() for p in plans])
        assert len(set(seen.tolist())) == len(seen)  # disjoint across ranks, unique within
        assert seen.max() < COUNTS.sum()


def test_order_is_a_function_of_seed_and_epoch():
    cfg = StreamConfig(seed=1, batch_size=4, shuffle_buffer=8)
    assert np.array_equal(plan_epoch(COUNTS, cfg, 0), plan_epoch(COUNTS, cfg, 0))
    assert not np.array_equal(plan_epoch(COUNTS, cfg, 0), plan_epoch(COUNTS, cfg, 1))
    other = StreamConfig(seed=2, batch_size=4, shuffle_buffer=8)
    assert not np.array_equal(plan_epoch(COUNTS, cfg, 0), plan_epoch(COUNTS, other, 0))


def test_without_buffer_shards_are_read_whole_and_in_storage_order():
    plan = plan_epoch(COUNTS, StreamConfig(batch_size=1, shuffle_buffer=0), 0).ravel()
    starts = np.concatenate([[0], np.cumsum(COUNTS)[:-1]])
    shard_of = np.searchsorted(starts, plan, side="right") - 1
    changes = np.flatnonzero(np.diff(shard_of)) + 1
    assert len(changes) == len(COUNTS) - 1  # each shard visited once
    assert np.all(np.diff(plan)[np.diff(shard_of) == 0] == 1)


def test_buffer_shuffle_is_a_local_permutation():
    items = np.arange(1000)
    out = buffer_shuffle(items, 50, np.random.default_rng(0))
    assert sorted(out.tolist()) == items.tolist() and not np.array_equal(out, items)
    assert np.all(out[:900] < np.arange(900) + 50)  # an item leaves within the buffer window


def test_resampled_mode_gives_each_rank_its_share():
    cfg = StreamConfig(seed=0, batch_size=4, resampled=True, epoch_samples=60)
    plans = [plan_epoch(COUNTS, cfg, 0, rank, 2) for rank in range(2)]
    assert all(p.shape == (7, 4) for p in plans)  # 60 // 2 // 4
    assert not np.array_equal(plans[0], plans[1])
    with pytest.raises(ValueError):
        plan_epoch(COUNTS, StreamConfig(epoch_samples=60), 0)


LAYOUT = np.array([0, 1, 2, 0, 0, 1, 3, 0, 2, 1] * 4)[:37]  # 4 layouts over the 37 samples of COUNTS


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_mixed_layouts_give_homogeneous_batches_the_same_layout_order_on_every_rank(world, alpha):
    from training.plan import plan_layouts

    cfg = StreamConfig(seed=4, batch_size=3, shuffle_buffer=6, layout_alpha=alpha)
    for epoch in range(2):
        plans = [plan_layouts(COUNTS, LAYOUT, cfg, epoch, rank, world) for rank in range(world)]
        expected = batches_per_epoch(int(COUNTS.sum()), cfg, world)
        for plan, tags in plans:
            assert plan.shape == (expected, 3) and tags.shape == (expected,)
            assert np.all(LAYOUT[plan] == tags[:, None])  # one layout per batch, the one announced
        assert all(np.array_equal(plans[0][1], tags) for _, tags in plans)  # DDP: same layout per step
    again = plan_layouts(COUNTS, LAYOUT, cfg, 1, 0, world)
    assert np.array_equal(again[0], plans[0][0]) and np.array_equal(again[1], plans[0][1])


def test_layout_alpha_sets_the_shares():
    from training.plan import layout_quotas

    sizes = np.array([800, 100, 50, 50])
    rng = np.random.default_rng(0)
    natural = np.sum([layout_quotas(sizes, 100, 1.0, rng) for _ in range(50)], axis=0) / 50
    uniform = np.sum([layout_quotas(sizes, 100, 0.0, rng) for _ in range(50)], axis=0) / 50
    assert np.allclose(natural, [80, 10, 5, 5], atol=0.5) and np.allclose(uniform, 25, atol=0.5)
    assert all(layout_quotas(sizes, 7, 0.5, rng).sum() == 7 for _ in range(20))


def test_one_layout_is_the_single_layout_plan():
    from training.plan import plan_layouts

    cfg = StreamConfig(seed=2, batch_size=4, shuffle_buffer=5)
    plan, tags = plan_layouts(COUNTS, np.full(37, 3), cfg, 1, 1, 2)
    assert np.array_equal(plan, plan_epoch(COUNTS, cfg, 1, 1, 2)) and set(tags.tolist()) == {3}


def test_a_layout_with_fewer_samples_than_its_share_is_cycled():
    from training.plan import plan_layouts

    layout = np.zeros(37, dtype=np.int64)
    layout[5] = 1  # one sample of its own layout
    plan, tags = plan_layouts(COUNTS, layout, StreamConfig(seed=0, batch_size=4, layout_alpha=0.0), 0, 0, 2)
    assert np.all(plan[tags == 1] == 5) and (tags == 1).sum() >= 1
