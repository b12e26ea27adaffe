"""OTAM against brute-force path enumeration and a slow cell-by-cell recursion."""

from __future__ import annotations

import math

import pytest
import torch

from fsar_bench.methods import create_method
from fsar_bench.methods.otam import (
    OTAMConfig,
    alignment,
    dtw_distance,
    match_distance,
    otam_distance,
    video_distance,
)

LAM = 0.1


def three_pred_columns(variant: str, width: int) -> set[int]:
    """Columns of the padded grid whose cells may be entered from above (methods.md / Eq. 5)."""
    if variant == "code":  # first real column and last padded column; column 0 is all zeros
        return {0, 1, width - 1}
    if variant == "paper":  # Eq. 5: j = 0 or j = T + 1
        return {0, width - 1}
    return set(range(width))  # plain DTW: every column


def all_paths(rows: int, width: int, vertical: set[int]) -> list[list[tuple[int, int]]]:
    """Every monotone path from (0, 0) to (rows-1, width-1): right, diagonal, down if allowed."""
    paths = []

    def walk(path: list[tuple[int, int]]) -> None:
        row, m = path[-1]
        if (row, m) == (rows - 1, width - 1):
            paths.append(list(path))
            return
        for dl, dm in ((0, 1), (1, 1), (1, 0)):
            nl, nm = row + dl, m + dm
            if nl < rows and nm < width and (dm == 1 or nm in vertical):
                walk([*path, (nl, nm)])

    walk([(0, 0)])
    return paths


def padded(dist: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.pad(dist, (1, 1))


def path_costs(grid: torch.Tensor, variant: str) -> tuple[list, torch.Tensor]:
    """All admissible paths of a 2-D cost grid and their summed costs."""
    rows, width = grid.shape
    paths = all_paths(rows, width, three_pred_columns(variant, width))
    costs = torch.stack([sum(grid[c] for c in p) for p in paths])
    return paths, costs


@pytest.mark.parametrize("variant", ["code", "paper"])
@pytest.mark.parametrize("t", [3, 4])
def test_hard_and_soft_equal_path_enumeration(variant: str, t: int) -> None:
    gen = torch.Generator().manual_seed(t)
    dist = torch.rand(3, t, t, generator=gen, dtype=torch.float64) * 2 - 0.5  # some negative
    hard = otam_distance(dist, variant=variant, hard=True)
    soft = otam_distance(dist, LAM, variant=variant)
    tiny = otam_distance(dist, 1e-4, variant=variant)
    for i in range(3):
        _, costs = path_costs(padded(dist[i]), variant)
        assert hard[i] == pytest.approx(costs.min().item(), abs=1e-12)
        # the relaxed recursion is the log-partition function over all admissible paths
        expected = -LAM * torch.logsumexp(-costs / LAM, 0)
        assert soft[i] == pytest.approx(expected.item(), abs=1e-10)
        assert tiny[i] == pytest.approx(costs.min().item(), abs=1e-3)


def test_paper_variant_sums_exactly_t_frame_distances() -> None:
    _, costs = path_costs(padded(torch.ones(4, 4, dtype=torch.float64)), "paper")
    assert torch.all(costs == 4)
    _, costs = path_costs(padded(torch.ones(4, 4, dtype=torch.float64)), "code")
    assert costs.max() > 4  # the code lets a path stay on the first support frame


def slow_otam(dist: list[list[float]], lam: float, variant: str) -> float:
    """Cell-by-cell soft recursion on the padded grid, Python floats, out-of-grid cells ignored."""
    rows, width = len(dist), len(dist[0]) + 2
    cost = [[0.0, *r, 0.0] for r in dist]
    three = three_pred_columns(variant, width)
    gamma = [[math.inf] * width for _ in range(rows)]
    for i in range(rows):
        for m in range(width):
            if (i, m) == (0, 0):
                gamma[i][m] = cost[i][m]
                continue
            preds = [(i - 1, m - 1), (i, m - 1)] + ([(i - 1, m)] if m in three else [])
            vals = [gamma[a][b] for a, b in preds if a >= 0 and b >= 0]
            low = min(vals)
            gamma[i][m] = (
                cost[i][m] + low - lam * math.log(sum(math.exp(-(v - low) / lam) for v in vals))
            )
    return gamma[-1][-1]


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_vectorised_recursion_equals_cell_by_cell(variant: str) -> None:
    gen = torch.Generator().manual_seed(1)
    dist = torch.rand(2, 3, 8, 8, generator=gen, dtype=torch.float64) * 2
    got = otam_distance(dist, LAM, variant=variant)
    for idx in [(0, 0), (0, 2), (1, 1)]:
        expected = slow_otam(dist[idx].tolist(), LAM, variant)
        assert got[idx].item() == pytest.approx(expected, abs=1e-10)


def test_rectangular_distance_matrix() -> None:
    dist = torch.rand(5, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert otam_distance(dist, LAM).item() == pytest.approx(slow_otam(dist.tolist(), LAM, "code"))


def naive_soft_otam(dist: torch.Tensor, lam: float) -> torch.Tensor:
    """The public code's formula: log of a sum of exps without shifting (code variant)."""
    p = torch.nn.functional.pad(dist, (1, 1))
    rows, width = p.shape
    g = [[p[0, : m + 1].sum() for m in range(width)]] + [[None] * width for _ in range(rows - 1)]
    for i in range(1, rows):
        g[i][0] = p[i, 0] * 0
        for m in range(1, width):
            preds = [g[i - 1][m - 1], g[i][m - 1]] + ([g[i - 1][m]] if m in (1, width - 1) else [])
            g[i][m] = p[i, m] - lam * torch.log(sum(torch.exp(-v / lam) for v in preds))
    return g[-1][-1]


@pytest.mark.parametrize(
    ("dtype", "scale", "lam"),
    [(torch.float32, 50.0, 0.01), (torch.float16, 2.0, 0.1), (torch.bfloat16, 50.0, 0.01)],
)
def test_stable_where_naive_formula_overflows(dtype: torch.dtype, scale: float, lam: float) -> None:
    dist = torch.rand(8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    dist = dist * scale + scale / 4
    reference = otam_distance(dist, lam).item()
    assert not torch.isfinite(naive_soft_otam(dist.to(dtype), lam))
    got = otam_distance(dist.to(dtype), lam)
    assert got.dtype == dtype and torch.isfinite(got)
    assert got.item() == pytest.approx(reference, rel=2e-2)


def test_matching_ablation_definitions() -> None:
    gen = torch.Generator().manual_seed(3)
    dist = torch.rand(4, 4, generator=gen, dtype=torch.float64)
    assert match_distance(dist, "min") == dist.min()
    assert match_distance(dist, "mean") == pytest.approx(dist.sum().item() / 16)
    assert match_distance(dist, "diagonal") == pytest.approx(sum(dist[i, i] for i in range(4)) / 4)
    assert match_distance(dist, "otam", LAM) == otam_distance(dist, LAM)
    _, costs = path_costs(dist, "plain-dtw")  # unpadded, every column admits vertical moves
    assert dtw_distance(dist, hard=True).item() == pytest.approx(costs.min().item())
    soft = -LAM * torch.logsumexp(-costs / LAM, 0)
    assert match_distance(dist, "plain-dtw", LAM).item() == pytest.approx(soft.item())


@pytest.mark.parametrize("matching", ["otam", "min", "mean", "diagonal", "plain-dtw"])
def test_direction_rule(matching: str) -> None:
    dist = torch.rand(2, 5, 5, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    one = match_distance(dist, matching, LAM)
    back = match_distance(dist.transpose(-1, -2), matching, LAM)
    torch.testing.assert_close(video_distance(dist, matching=matching, lam=LAM), one + back)
    torch.testing.assert_close(
        video_distance(dist, matching=matching, lam=LAM, variant="paper"),
        match_distance(dist, matching, LAM, variant="paper"),
    )


def path_alignment(dist: torch.Tensor, variant: str, hard: bool) -> torch.Tensor:
    """Argmin path indicator, or expected indicator under the soft-min path distribution."""
    paths, costs = path_costs(padded(dist), variant)
    if hard:
        weights = torch.zeros_like(costs)
        weights[costs.argmin()] = 1
    else:
        weights = torch.softmax(-costs / LAM, 0)
    out = torch.zeros(dist.shape[0], dist.shape[1] + 2, dtype=torch.float64)
    for w, path in zip(weights, paths, strict=True):
        for cell in path:
            out[cell] += w
    return out[:, 1:-1]  # real columns only


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("variant", ["code", "paper"])
def test_alignment_is_argmin_path_or_path_expectation(variant: str, hard: bool) -> None:
    dist = torch.rand(4, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    got = alignment(dist, lam=LAM, variant=variant, hard=hard)
    expected = path_alignment(dist, variant, hard)
    if variant == "code":  # mean of the two directions
        expected = (expected + path_alignment(dist.T, variant, hard).T) / 2
    torch.testing.assert_close(got, expected)


def test_method_logits_and_extras() -> None:
    gen = torch.Generator().manual_seed(5)
    support = torch.randn(2, 6, 5, 7, generator=gen)  # E=2, 3-way 2-shot, T=5, D=7
    query = torch.randn(2, 4, 5, 7, generator=gen)
    labels = torch.tensor([[2, 0, 1, 0, 2, 1], [1, 1, 0, 2, 2, 0]])
    model = create_method("otam", 7, return_alignment=True).eval()
    out = model.episodes(support, labels, query, 3)
    cos = torch.nn.functional.cosine_similarity(
        query[:, :, None, :, None], support[:, None, :, None], dim=-1
    )  # [E, Q, S, T, T]
    dist = otam_distance(1 - cos, LAM) + otam_distance((1 - cos).transpose(-1, -2), LAM)
    for c in range(3):
        expected = -dist[..., labels[0] == c].mean(-1)[0]
        torch.testing.assert_close(out.logits[0, :, c], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.extras["frame_similarity"], cos, rtol=1e-5, atol=1e-5)
    assert out.extras["alignment"].shape == (2, 4, 6, 5, 5)
    with torch.no_grad():  # the alignment's backward pass also works under no_grad
        again = model.episodes(support, labels, query, 3).extras["alignment"]
    torch.testing.assert_close(again, out.extras["alignment"])
    pair = alignment(1 - cos[0, 1, 2].double(), lam=LAM)
    torch.testing.assert_close(again[0, 1, 2], pair.float(), rtol=1e-4, atol=1e-5)
    assert out.extras["support_distance"].shape == (2, 4, 6)


def test_temporal_order_matters_for_otam_not_protonet() -> None:
    gen = torch.Generator().manual_seed(6)
    support = torch.randn(1, 5, 8, 16, generator=gen)
    query = torch.randn(1, 5, 8, 16, generator=gen)
    labels = torch.arange(5)[None]
    reversed_query = query.flip(2)
    otam = create_method("otam", 16).eval()
    proto = create_method("protonet", 16).eval()
    with torch.no_grad():
        a, b = (otam.episodes(support, labels, x).logits for x in (query, reversed_query))
        c, d = (proto.episodes(support, labels, x).logits for x in (query, reversed_query))
    assert not torch.allclose(a, b, atol=1e-3)
    torch.testing.assert_close(c, d)


def test_config_validation() -> None:
    from fsar_bench.errors import FsarError

    with pytest.raises(FsarError, match="variant"):
        OTAMConfig(variant="nope")
    with pytest.raises(FsarError, match="matching"):
        OTAMConfig(matching="nope")
    with pytest.raises(FsarError, match="lam"):
        OTAMConfig(lam=0.0)
