"""Curriculum study (Russin et al.): task generators, attention ablations, fine-tuning, a tiny study."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlcog.experiments.curriculum import CurriculumConfig, published_table, run_curriculum
from mlcog.models.icl_transformer import ICLTransformer
from mlcog.tasks.curriculum import CategoryTask, GridTask, category_labels, grid_study_order, grid_targets
from mlcog.train.curriculum import (
    FinetuneConfig,
    MetaConfig,
    accuracy,
    block_schedule,
    build_model,
    finetune,
    load_icl_model,
)

torch.set_num_threads(1)
GRID = np.array([(x, y) for x in range(8) for y in range(8)])
TINY = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32}


# -- task generators -----------------------------------------------------------------------------------------
def test_category_labels_hand_checked():
    items = np.array([(6, 0), (0, 7), (7, 0), (0, 0), (7, 7), (3, 5)])
    rule0, _ = category_labels(items, rotated=False, rel_dim=0)
    rule1, _ = category_labels(items, rotated=False, rel_dim=1)
    rot0, _ = category_labels(items, rotated=True, rel_dim=0)  # anti-diagonal x + y = 7
    rot1, _ = category_labels(items, rotated=True, rel_dim=1)  # main diagonal
    np.testing.assert_array_equal(rule0, [1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(rule1, [0, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(rot0, [0, 0, 1, 0, 1, 1])  # (6,0): rule-like 1 but rotated 0
    np.testing.assert_array_equal(rot1, [0, 1, 0, 1, 0, 1])  # (0, 0) lies on it: ties split by 7 - x


@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize("rel", [0, 1])
def test_category_labels_balanced(rotated, rel):
    labels, quads = category_labels(GRID, rotated, rel)
    assert np.bincount(labels).tolist() == [32, 32]
    assert np.bincount(quads).tolist() == [16, 16, 16, 16]
    assert np.all(quads // 2 == labels)


def test_category_episode_orders():
    task = CategoryTask(n_task_dims=10, n_train_tasks=50, n_test_tasks=10)
    blocked = task.sample(3, rotated=False, order="blocked", seed=1)
    inter = task.sample(3, rotated=False, order="interleaved", seed=1)
    for eps in (blocked, inter):
        assert eps.ctx.shape == (3, 32, 3) and eps.test_x.shape == (3, 32, 3)
        # studied and held-out queries together are the 64 items, without overlap
        items = torch.cat([eps.train_x[0, :, :2], eps.test_x[0, :, :2]]).tolist()
        assert len({tuple(i) for i in items}) == 64
        assert torch.equal(eps.ctx[..., 2] - task.label_id, eps.train_y[..., 0])
        assert torch.equal(eps.train_group, eps.train_y[..., 0])  # group A = label 0, B = label 1
    # blocked: 4 runs of 8 items of one quadrant, so the label changes at most at run boundaries
    for e in range(3):
        labels = blocked.train_y[e, :, 0].numpy()
        changes = np.flatnonzero(np.diff(labels)) + 1
        assert set(changes) <= {8, 16, 24}
    # interleaved holds the same items as blocked, shuffled
    assert sorted(map(tuple, blocked.ctx[0].tolist())) == sorted(map(tuple, inter.ctx[0].tolist()))
    assert not torch.equal(blocked.ctx, inter.ctx)
    test_dims = {tuple(p) for p in task.task_pairs()[1]}
    held = task.sample(2, False, "blocked", split="test", seed=0)
    dims = tuple((held.ctx[0, 0, :2] // task.n_symbols).tolist())
    assert dims in test_dims


def test_grid_orders_and_targets():
    rng = np.random.default_rng(0)
    blocked = grid_study_order("blocked", rng)
    first, centre, second = blocked[:4], blocked[4], blocked[5:]
    shared_first = 0 if len({c[0] for c in first}) == 1 else 1
    assert len({c[shared_first] for c in first}) == 1 and len({c[1 - shared_first] for c in second}) == 1
    assert centre[shared_first] == first[0][shared_first] and len(set(blocked)) == 9
    aligned = grid_study_order("aligned", rng)
    assert aligned[4] == (2, 2) and all(2 in c for c in aligned)
    mis = grid_study_order("misaligned", rng)
    assert mis[4] == (2, 2) and all(x == y or x + y == 4 for x, y in mis)
    np.testing.assert_array_equal(grid_targets(np.array([(0, 0), (4, 4), (0, 4), (2, 2)]), rotated=True),
                                  [(0, 4), (8, 4), (4, 8), (4, 4)])
    eps = GridTask(p_flip_xy=0.0).sample(2, rotated=False, order="aligned", seed=3)
    assert eps.ctx.shape == (2, 9, 4) and eps.test_x.shape == (2, 16, 4)
    assert eps.train_group[0].tolist() == [0] * 5 + [1] * 4
    assert eps.train_y[0, 4].tolist() == [2, 2]  # the centre cell, unflipped


def test_bad_order_raises():
    with pytest.raises(ValueError, match="study order"):
        GridTask().sample(1, False, "aligned-ish")
    with pytest.raises(ValueError, match="blocked"):
        block_schedule("random", 4)


# -- the ablations -------------------------------------------------------------------------------------------
def test_masking_removes_attention_to_masked_examples():
    task = GridTask()
    model = build_model(task, seed=0, **TINY | {"n_layers": 2})
    eps = task.sample(2, False, "interleaved", seed=0)
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[0, [1, 4]] = False
    keep[1, 7] = False
    logits, attn = model(eps.ctx, eps.test_x, ctx_keep=keep, return_attention=True)
    for w in attn:  # (B, heads, T, T)
        for b, col in ((0, 1), (0, 4), (1, 7)):
            rows = [r for r in range(w.shape[2]) if r != col]
            assert torch.all(w[b, :, rows, col] == 0)
        assert torch.all(w[0, :, 9:, 0] > 0)  # kept examples are still read
    # nothing of a masked example reaches the queries: changing it leaves the logits unchanged
    ctx2 = eps.ctx.clone()
    ctx2[0, 1] = eps.ctx[0, 2]
    torch.testing.assert_close(model(ctx2, eps.test_x, ctx_keep=keep), logits)
    unmasked = model(ctx2, eps.test_x)
    assert not torch.allclose(unmasked[0], logits[0])


def test_split_answer_positions_and_masking():
    """Split mode: example i is positions 2i (stimulus) and 2i+1 (its label); masking an example removes
    both, and the label really is read from its own position (changing it changes the predictions)."""
    task = CategoryTask()
    model = build_model(task, seed=0, **TINY | {"n_layers": 2}, split_answer=True)
    assert model.config.split_answer == 1
    eps = task.sample(2, False, "interleaved", split="test", seed=0)
    n_ctx = eps.ctx.shape[1]
    keep = torch.ones(2, n_ctx, dtype=torch.bool)
    keep[0, 3] = False
    logits, attn = model(eps.ctx, eps.test_x, ctx_keep=keep, return_attention=True)
    assert logits.shape == (2, eps.test_x.shape[1], 1, task.n_classes)
    for w in attn:
        assert w.shape[-1] == 2 * n_ctx + eps.test_x.shape[1]
        for col in (6, 7):  # both positions of example 3
            rows = [r for r in range(w.shape[2]) if r != col]
            assert torch.all(w[0, :, rows, col] == 0)
    flipped = eps.ctx.clone()  # same stimuli, labels shuffled across examples
    flipped[:, :, -1] = eps.ctx[:, torch.randperm(n_ctx, generator=torch.Generator().manual_seed(0)), -1]
    assert not torch.allclose(model(flipped, eps.test_x), model(eps.ctx, eps.test_x))


def test_value_noise_only_touches_query_reads():
    task = GridTask()
    model = build_model(task, seed=0, **TINY)
    eps = task.sample(2, False, "blocked", seed=0)
    clean = model(eps.ctx, eps.test_x)
    noisy = model(eps.ctx, eps.test_x, value_noise=5.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(clean, noisy)
    assert torch.allclose(clean, model(eps.ctx, eps.test_x, value_noise=0.0))


def test_query_rows_do_not_see_each_other():
    allowed = ICLTransformer.allowed_mask(1, 3, 2)[0]
    assert allowed[3].tolist() == [True, True, True, True, False]
    assert allowed[1].tolist() == [True, True, False, False, False]


# -- fine-tuning curricula -----------------------------------------------------------------------------------
def test_blocked_finetuning_forgets_first_block():
    task = CategoryTask(n_task_dims=10, n_train_tasks=50, n_test_tasks=10)
    fresh = build_model(task, seed=0, **TINY)
    eps = task.sample(1, rotated=True, order="blocked", seed=2)
    cfg = FinetuneConfig(n_blocks=4, steps_per_block=40, lr=1e-2)
    assert block_schedule("blocked", 4) == ["A", "B", "A", "B"]
    blocked, _ = finetune(fresh, eps, "blocked", cfg)
    inter, _ = finetune(fresh, eps, "interleaved", cfg)
    assert float(accuracy(inter, eps, "train")) == 1.0
    # after the last B block every studied item is called B: exactly the A half is lost
    pred = blocked(eps.ctx, eps.train_x).argmax(-1)[0, :, 0]
    assert torch.all(pred == 1) and float(accuracy(blocked, eps, "train")) == 0.5


# -- a reduced study -----------------------------------------------------------------------------------------
def test_reduced_study_runs(tmp_path):
    cfg = CurriculumConfig(seeds=(1,), n_test=2, category_meta=MetaConfig(n_steps=5, **TINY),
                           grid_meta=MetaConfig(n_steps=5, **TINY),
                           category_ft=FinetuneConfig(steps_per_block=2),
                           grid_ft=FinetuneConfig(steps_per_block=2),
                           mask_levels=(0.0, 1.0), noise_levels=(0.0, 8.0), n_tradeoff=1)
    res = run_curriculum("grid", cfg, tmp_path)
    summary = res["summary"]
    assert set(summary.regime) == {"ICL", "ICL+IWL", "IWL only"}
    orders = {"Blocked", "Interleaved", "Aligned", "Misaligned"}
    assert set(summary[summary.regime == "ICL"].curriculum) == orders
    assert len(res["tradeoff"]) == 4
    for name in ("per_seed", "summary", "comparison", "tradeoff"):
        assert (tmp_path / f"grid_{name}.csv").is_file()
    assert (tmp_path / "grid_accuracy.png").is_file() and (tmp_path / "grid_tradeoff.png").is_file()
    info = json.loads((tmp_path / "grid_summary.json").read_text())
    reloaded = load_icl_model(tmp_path / "meta_seed1" / "model.safetensors")
    eps = GridTask().sample(1, False, "blocked", seed=0)
    assert reloaded.config.n_out_heads == 2 and reloaded(eps.ctx, eps.test_x).shape == (1, 16, 2, 9)
    assert "IWL only Rotated: blocked - interleaved" in info["effects"] and "mask" in info["tradeoff_trends"]
    if published_table("grid") is not None:
        comp = res["comparison"]
        row = comp[(comp.regime == "IWL only") & (comp.rotation == "Rule-like")
                   & (comp.curriculum == "Blocked")]
        assert row["published"].iloc[0] == pytest.approx(407 / 900)
    with pytest.raises(ValueError, match="task must be"):
        run_curriculum("maze", cfg)
