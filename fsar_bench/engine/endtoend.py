"""End-to-end models: a trainable frame backbone in front of a few-shot method (``--finetune``).

The papers fine-tune ImageNet ResNet-50 with the episodic loss. :class:`EndToEnd` runs the
backbone on a batch of decoded clips (uint8 ``[V, T, 3, S, S]``) and hands the method what its
frozen-feature twin reads from the cache: maps ``[V, T, C, h, w]`` (``spatial``) or their
spatial mean ``[V, T, C]`` (``pooled``). Everything after that (``embed``, ``compare``, the loss,
``extras``) is the method's own code, unchanged.

On CUDA the backbone runs in bf16 autocast (fp16 where bf16 is missing) and channels-last;
``checkpointing`` recomputes the backbone's activations in the backward pass (activation
checkpointing per frame chunk) to fit larger episodes in memory. On the CPU everything is fp32.

Differences from the authors' code: TRX/TA2N feed ``[0, 1]`` frames to ResNet-50 without
ImageNet normalisation; the backbone here normalises its input as its weights expect (the same
:class:`~fsar_bench.features.backbones.FrameEncoder` that extraction uses).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from fsar_bench.features.backbones import FrameEncoder, autocast_dtype
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState


class EndToEnd(nn.Module):
    """Backbone + method; ``state_dict`` holds both (``backbone.*``, ``method.*``).

    Args:
        backbone: the frame encoder (trained with the method).
        method: the few-shot method on the backbone's maps.
        checkpointing: recompute backbone activations in backward (saves memory).
        chunk: frames per backbone call (bounds activation memory).
    """

    def __init__(
        self,
        backbone: FrameEncoder,
        method: FewShotMethod,
        *,
        checkpointing: bool = False,
        chunk: int = 64,
    ) -> None:
        super().__init__()
        self.backbone, self.method = backbone, method
        self.checkpointing, self.chunk = checkpointing, chunk
        self.input_kind = method.input_kind

    def features(self, clips: Tensor) -> Tensor:
        """uint8 ``[V, T, 3, S, S]`` -> float32 ``[V, T, C, h, w]`` or pooled ``[V, T, C]``."""
        v, t = clips.shape[:2]
        frames = clips.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        amp = autocast_dtype(frames.device)
        outs = []
        with torch.autocast(frames.device.type, amp or torch.float32, enabled=amp is not None):
            for lo in range(0, len(frames), self.chunk):
                part = frames[lo : lo + self.chunk]
                if self.checkpointing and self.training:
                    outs.append(checkpoint(self.backbone, part, use_reentrant=False))
                else:
                    outs.append(self.backbone(part))
        maps = torch.cat(outs).float()  # [V*T, C, h, w]
        maps = maps.reshape(v, t, *maps.shape[1:])
        return maps.mean(dim=(-2, -1)) if self.input_kind == "pooled" else maps

    def embed(self, clips: Tensor) -> VideoState:
        """The method's per-video state of decoded clips ``[V, T, 3, S, S]``."""
        return self.method.embed(self.features(clips))

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """The method's comparison of embedded states (evaluation embeds each video once)."""
        return self.method.compare(support, support_labels, query, n_way)

    def episodes(
        self, support: Tensor, support_labels: Tensor, query: Tensor, n_way: int
    ) -> EpisodeOutput:
        """Batched episodes of clips: support ``[E, S, T, 3, H, W]``, query ``[E, Q, ...]``."""
        e, s = support.shape[:2]
        q = query.shape[1]
        x = self.features(torch.cat([support.flatten(0, 1), query.flatten(0, 1)]))
        return self.method.episodes(
            x[: e * s].reshape(e, s, *x.shape[1:]),
            support_labels,
            x[e * s :].reshape(e, q, *x.shape[1:]),
            n_way,
        )

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        return self.method.loss(output, query_labels)
