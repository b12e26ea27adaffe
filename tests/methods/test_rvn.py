"""RVN (Cao et al., CVIU 2021, Sec. 4.3.1): decomposed first convolution against one Conv3d on the
concatenated pair, evaluation chunking, MSE loss, and what the clip mean forgets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.methods.rvn import KERNELS

N_WAY, SHOTS, N_QUERY, T, C, H, W = 3, 2, 2, 4, 5, 3, 4


def episode(seed: int):
    gen = torch.Generator().manual_seed(seed)
    support = torch.randn(2, N_WAY * SHOTS, T, C, H, W, generator=gen, dtype=torch.float64)
    query = torch.randn(2, N_QUERY, T, C, H, W, generator=gen, dtype=torch.float64)
    labels = torch.stack([torch.randperm(N_WAY * SHOTS, generator=gen) % N_WAY for _ in range(2)])
    return support, labels, query


def model(**config):
    torch.manual_seed(0)
    method = create_method("rvn", C, channels=4, **config).double().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so the test sees them
        for bn in (method.block1[0], method.block2[1]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return method


def paper_kernel(method, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's first conv on ``cat(class, query)``: ``[64, 2C, kt, kh, kw]`` and its bias.

    Built from the model's two halves; when the model shrank a temporal kernel of 3 to 1
    (``T' = 1``), the outer temporal taps are random: they only ever meet zero padding.
    """
    weight = torch.cat([method.conv_class.weight, method.conv_query.weight], dim=1)
    kt = KERNELS[name][0][0]
    if weight.shape[2] != kt:
        outer = torch.randn(*weight.shape[:2], 1, *weight.shape[3:], dtype=weight.dtype)
        weight = torch.cat([outer, weight, outer], dim=2)
    return weight, method.conv_class.bias


def naive_scores(method, name: str, support, labels, query) -> torch.Tensor:
    """One (episode, query, class) pair at a time: mean clip map, mean over shots, concat."""
    weight, bias = paper_kernel(method, name)
    pad = tuple(k // 2 for k in weight.shape[2:])
    out = torch.zeros(2, N_QUERY, N_WAY, dtype=torch.float64)
    for e in range(2):
        for c in range(N_WAY):
            cls = method.video_map(support[e][labels[e] == c]).mean(0)  # [C, T', H, W]
            for i in range(N_QUERY):
                qmap = method.video_map(query[e, i : i + 1])[0]
                pair = torch.cat([cls, qmap])[None]  # [1, 2C, T', H, W]
                x = method.block2(method.block1(F.conv3d(pair, weight, bias, padding=pad)))
                out[e, i, c] = torch.sigmoid(method.head(x.mean((2, 3, 4))))[0, 0]
    return out


@pytest.mark.parametrize("kernels", list(KERNELS))
@pytest.mark.parametrize("clip_len", [1, 2])
def test_decomposed_first_conv_equals_conv_on_the_concatenation(kernels, clip_len) -> None:
    support, labels, query = episode(0)
    method = model(kernels=kernels, clip_len=clip_len)
    with torch.no_grad():
        got = method.episodes(support, labels, query, N_WAY).logits
        want = naive_scores(method, kernels, support, labels, query)
    torch.testing.assert_close(got, want)
    assert ((got > 0) & (got < 1)).all()


def test_evaluation_chunks_do_not_change_scores() -> None:
    support, labels, query = episode(1)
    with torch.no_grad():
        whole = model().episodes(support, labels, query, N_WAY).logits
        chunked = model(pair_chunk=N_WAY).episodes(support, labels, query, N_WAY).logits
    torch.testing.assert_close(whole, chunked, rtol=0, atol=0)


def test_loss_is_mse_to_one_hot() -> None:
    support, labels, query = episode(2)
    method = model().train()
    out = method.episodes(support, labels, query, N_WAY)
    query_labels = torch.tensor([[0, 2], [1, 1]])
    onehot = torch.zeros(2, N_QUERY, N_WAY, dtype=torch.float64)
    for e in range(2):
        for i in range(N_QUERY):
            onehot[e, i, query_labels[e, i]] = 1.0
    expected = ((out.logits - onehot) ** 2).sum() / out.logits.numel()
    torch.testing.assert_close(method.loss(out, query_labels), expected)


def test_clip_mean_forgets_clip_order_but_not_order_within_a_clip() -> None:
    support, labels, query = episode(3)
    shuffled = query[:, :, torch.tensor([2, 0, 3, 1])]
    with torch.no_grad():
        per_frame = model()  # one clip per frame: the mean over clips ignores their order
        a = per_frame.episodes(support, labels, query, N_WAY).logits
        b = per_frame.episodes(support, labels, shuffled, N_WAY).logits
        one_clip = model(clip_len=T)  # T' = T: the 3x3x3 convolutions see the frame order
        c = one_clip.episodes(support, labels, query, N_WAY).logits
        d = one_clip.episodes(support, labels, shuffled, N_WAY).logits
    torch.testing.assert_close(a, b)
    assert (c - d).abs().max() > 1e-4


def test_bad_config_and_indivisible_clips_fail_clearly() -> None:
    with pytest.raises(FsarError, match="rvn kernels"):
        create_method("rvn", C, kernels="rvn-4")
    with pytest.raises(FsarError, match="do not divide"):
        model(clip_len=3).embed(episode(0)[0][0])
