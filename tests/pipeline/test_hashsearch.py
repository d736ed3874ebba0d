"""Hash search returns exactly the brute-force pair set (exact plans) or a verified subset (LSH)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.hashsearch import SearchPlan, _buckets, brute_force_pairs, plan_search, radius_pairs


def planted_hashes(n: int, pairs: int, radius: int, seed: int) -> np.ndarray:
    """Uniform random hashes plus ``pairs`` copies with 0..radius+2 flipped bits."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    h ^= rng.integers(0, 2, n).astype(np.uint64)
    src, dst = rng.choice(n, pairs, replace=False), rng.choice(n, pairs, replace=False)
    for s, d in zip(src, dst):
        flips = rng.choice(64, int(rng.integers(0, radius + 3)), replace=False)
        h[d] = h[s] ^ np.uint64(sum(1 << int(bit) for bit in flips))
    return h


def as_set(a: np.ndarray, b: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(a.tolist(), b.tolist()))


@pytest.mark.parametrize("radius", [0, 3, 6, 10])
@pytest.mark.parametrize("method", ["brute", "pigeonhole"])
def test_exact_plans_match_brute_force(radius, method):
    h = planted_hashes(2000, 300, radius, seed=radius)
    ba, bb = brute_force_pairs(h, radius)
    plan = SearchPlan("brute", (0,), 1.0, 0.0) if method == "brute" else plan_search(h.shape[0], 1e12, radius)
    assert plan.method == method
    a, b = radius_pairs(h, radius, plan=plan)
    assert np.array_equal(a, ba) and np.array_equal(b, bb)
    assert len(a) > 30  # the planted pairs are really there
    assert np.all(a < b)


def test_bucket_count_follows_the_distinct_keys_a_table_can_have():
    assert _buckets(10**7, 17, 1) == (17, True)  # one block, few key values: the bits index buckets
    assert _buckets(1000, 30, 1) == (11, False)  # more key values than members: hashed, ~2n buckets
    assert _buckets(10**6, 6, 50) == (13, False)  # 64 values x 50 blocks = 3200 keys at most
    assert _buckets(10**9, 40, 10**6) == (24, False)  # capped
    assert _buckets(10**7, 0, 10**6) == (0, True)  # every pair of a block: blocks are runs already


@pytest.mark.parametrize("radius", [3, 10])
def test_direct_and_hashed_bucket_keys_find_the_same_pairs(radius):
    """One block keys buckets by the masked bits; a second (empty but for one member) block
    switches every table to hashed keys: the pairs must not change."""
    h = planted_hashes(3000, 400, radius, seed=7)
    n = h.shape[0]
    plan = plan_search(n, n * (n - 1) / 2, radius)
    direct = radius_pairs(h, radius, np.zeros(n, dtype=np.int64), plan=plan)
    members = np.concatenate([np.arange(n), [0]])
    ids = np.concatenate([np.zeros(n, dtype=np.int64), [1]])
    order = np.argsort(members, kind="stable")
    hashed = radius_pairs(h, radius, (members[order], ids[order]), plan=plan)
    assert as_set(*direct) == as_set(*hashed) == as_set(*brute_force_pairs(h, radius))


def test_duplicate_hash_values_pair_up():
    h = np.array([5, 5, 5, 7, 2**63], dtype=np.uint64)
    assert as_set(*radius_pairs(h, 0)) == {(0, 1), (0, 2), (1, 2)}
    assert as_set(*radius_pairs(h, 1)) == {(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)}


def test_blocks_restrict_pairs_to_a_shared_block():
    h = planted_hashes(1500, 300, 8, seed=1)
    blocks = np.random.default_rng(2).integers(0, 7, h.shape[0])
    ba, bb = brute_force_pairs(h, 8)
    same = blocks[ba] == blocks[bb]
    assert as_set(*radius_pairs(h, 8, blocks)) == as_set(ba[same], bb[same])


def test_multi_membership_blocks_find_pairs_in_any_shared_block_once():
    h = planted_hashes(1200, 200, 6, seed=3)
    rng = np.random.default_rng(4)
    home = rng.integers(0, 10, h.shape[0])
    extra = rng.integers(0, 10, h.shape[0])
    members = np.concatenate([np.arange(h.shape[0]), np.arange(h.shape[0])])
    a, b = radius_pairs(h, 6, (members, np.concatenate([home, extra])))
    ba, bb = brute_force_pairs(h, 6)
    shared = (home[ba] == home[bb]) | (home[ba] == extra[bb]) | (extra[ba] == home[bb]) | (extra[ba] == extra[bb])
    assert as_set(a, b) == as_set(ba[shared], bb[shared])
    assert len(set(zip(a.tolist(), b.tolist()))) == len(a)  # no pair twice


def test_lsh_is_verified_and_meets_recall():
    h = planted_hashes(20000, 2000, 10, seed=5)
    ba, bb = brute_force_pairs(h, 10)
    a, b = radius_pairs(h, 10, recall=0.9, seed=0, plan=plan_search(h.shape[0], 2e8, 10, 0.9, seed=0))
    found, truth = as_set(a, b), as_set(ba, bb)
    assert found <= truth  # verified: never a false pair
    assert len(found) >= 0.9 * len(truth)
    again = radius_pairs(h, 10, recall=0.9, seed=0, plan=plan_search(h.shape[0], 2e8, 10, 0.9, seed=0))
    assert as_set(*again) == found  # seeded: deterministic


def test_plans_prefer_lsh_only_when_cheaper_and_allowed():
    assert plan_search(10**6, 5e11, 10, recall=1.0).method == "pigeonhole"
    lsh = plan_search(10**6, 5e11, 10, recall=0.99)
    assert lsh.method == "lsh" and lsh.expected_recall >= 0.99
    assert plan_search(10**6, 10**6 * 50.0, 10, recall=0.99).method == "brute"  # small blocks


def test_degenerate_inputs():
    assert radius_pairs(np.zeros(0, dtype=np.uint64), 3)[0].shape == (0,)
    assert radius_pairs(np.ones(1, dtype=np.uint64), 3)[0].shape == (0,)
    with pytest.raises(ValueError):
        radius_pairs(np.ones(3, dtype=np.uint64), 3, (np.array([0, 5]), np.array([1, 1])))


def test_member_ordered_blocks_take_the_radix_sort_and_match_any_order():
    """Memberships ordered by member (as ``overlap_blocks`` gives them) are sorted by a linear
    radix sort; the result must equal the general path's on the same memberships shuffled."""
    from pipeline.hashsearch import _dense_blocks

    rng = np.random.default_rng(5)
    members = np.sort(rng.integers(0, 3000, 20_000))
    ids = rng.integers(0, 1 << 40, 20_000) % 997 * 1_000_003  # sparse ids wider than one digit
    ids[:50] = ids[50:100]  # repeated (member, block) memberships are dropped either way
    members[:50] = members[50:100]
    members = np.sort(members)
    fast = _dense_blocks(3000, (members, ids))
    order = rng.permutation(ids.shape[0])
    general = _dense_blocks(3000, (members[order], ids[order]))
    assert all(np.array_equal(a, b) for a, b in zip(fast, general))
    hashes = rng.integers(0, 1 << 63, 3000, dtype=np.uint64)
    assert all(np.array_equal(a, b) for a, b in zip(radius_pairs(hashes, 20, (members, ids)),
                                                     radius_pairs(hashes, 20, (members[order], ids[order]))))
