"""TA2N settings (:class:`TA2NConfig`) and where the suite differs from the official code.

The method itself: :mod:`fsar_bench.methods.ta2n`.

Differences from the official code (default = official behaviour unless said):

* Shots are grouped by label, not by position (the official loader emits class-major support,
  where both agree). The k-shot reference is the class's first shot as in the code (the paper's
  supplementary says it is picked at random).
* BatchNorm in training: the TTM net normalises over all videos of one ``embed`` call (official:
  the episode's support batch and query batch separately); the offset net over all pairs of the
  ``E`` episodes of one ``compare`` call (official: one episode). Evaluation is identical.
* Max-pool kernels are clipped to axes shorter than the kernel, and the SC mask grid uses ``W``
  for ``x`` and ``H`` for ``y`` (official: square maps only), so any ``T, H, W`` works; identical
  wherever the official code runs.
* The SC offset net's first conv is computed in the exact decomposed form (``sc_impl``); the
  naive per-pair concatenation is kept as ``sc_impl="naive"`` (same numbers up to float rounding).
* Toggles ``tc`` / ``sc`` are the paper's Table 3 ablation (the code only has ``second_stage``,
  which switches both off and then compares flattened ``C*H*W`` maps per frame). Here ``tc=False``
  drops the attention and all ``W_v`` terms; ``sc=False`` averages over ``H, W``; all off gives
  the frame-wise cosine of pooled features (Table 3's first row). ``kshot_align=False`` (not in
  the code) averages the shots' maps instead of ``insupport_align``.
* ``sc_design="grid"`` / ``"enumerate"`` (Table 4) have no public code; our reading: ``grid``
  resamples the overlap window bilinearly (same jitter); ``enumerate`` tries every integer shift
  per frame with hard overlap boxes and keeps the smallest distance (no offset net).
* Jitter: official keeps amplitude 0.2 and the jitters on at test (its ``decay()``, which
  halves the amplitude, is never called); the paper decays it every 40 epochs and disables it at
  test (``jitter_at_test=False``; a trainer may change ``jitter`` between runs). The
  paper's slope ``gamma=3`` equals the code's one-cell fall-off on 7x7 maps.
* ``loss`` = cross-entropy summed over an episode's queries, averaged over the episodes of the
  call. Official: per episode summed CE divided by 16, gradients accumulated over 16 episodes
  (``accumulate_episodes``), SGD lr 1e-3 without momentum (paper: momentum 0.9 and lr decay),
  100,020 episodes, 5 queries per class in training.
* Short budgets: with the default init the TC and k-shot attention logits are tiny, so both
  attentions start uniform: k-shot prototypes start as temporal averages and TC's residual as a
  temporal constant; on frozen features the quick preset's few hundred episodes do not get TA2N
  out of that state.
* ``centre`` (not in the paper or code; off by default) and ``scale`` / ``learn_scale`` (no
  multiplier by default): on frozen cached features the official distance collapses. At
  initialisation the logits carry no class information yet but spread, so the loss is above
  ``ln N``; the cheapest descent direction adds one vector to every embedding (every cosine ->
  1, logits equal, loss exactly ``ln N``). The projections (``reduce_channels``, the k-shot and
  TC value maps) do this for free because their inputs share a large mean (non-negative
  backbone maps), and the uniform attentions' temporal averages add to it. ``centre=True``
  subtracts, per query and frame, the mean of the ``N`` aligned prototypes from both sides
  before the cosine: a vector shared by all embeddings cannot move a logit, so the collapse
  direction has zero gradient. Centred cosines spread wider (cross-class cosine about
  ``-1/(N-1)``), hence ``scale=0.3`` (learned) restores the official initial logit spread; a
  learned scale without centring still collapses.
* ``kshot_align=False`` in the quick preset (official: on). On frozen features the k-shot
  branch (``insupport_align``: prototypes from attention over ``W_vm``-projected maps, queries
  replaced by ``W_vm Q``) fits the training classes without transferring: with it TA2N's 5-shot
  tests below its own 1-shot and below its all-stages-off ablation; averaging the shots does
  not.
* Conv1d(kernel 1) projections are ``nn.Linear`` (same map and init distribution); parameter
  names differ from the official checkpoint.

The measurements behind the short-budget, ``centre`` and ``kshot_align`` items (energy on the
mean direction, the collapse in three Adam steps, the 5-shot accuracies with and without the
k-shot branch), with their date, commit and machine, are in ``docs/presets.md`` ("TA2N on
frozen features").
"""

from __future__ import annotations

from dataclasses import dataclass

from fsar_bench.errors import FsarError


@dataclass(frozen=True, kw_only=True)
class TA2NConfig:
    """TA2N settings; defaults reproduce the official code.

    Attributes:
        ttm, tc, sc: stage toggles (TA2N Table 3).
        kshot_align: align shots to the class's first shot for K > 1 (official); else average.
        sc_design: ``"mask"`` (official), ``"grid"`` or ``"enumerate"`` (TA2N Table 4).
        sc_impl: ``"decomposed"`` (per-video first-conv halves) or ``"naive"`` (per-pair concat).
        offset_scale: SC offsets are ``offset_scale * tanh(.)``.
        jitter: amplitude of the 8 SC jitter directions.
        jitter_at_test: keep the jitters in eval mode (official) or use only the zero jitter.
        dropout: dropout on the input features in training.
        shots: K the states are embedded for; ``None`` embeds both the 1-shot and k-shot
            branches so any K works; ``1`` or ``k`` computes only what that K needs.
        return_extras: also return the heavy embeddings in ``extras``.
        reduce_channels: ``None`` (official): TA2N works on the backbone's ``C`` channels. An
            integer ``R`` adds a trainable 1x1 projection ``C -> R`` (per frame and position)
            before TTM, so every later stage costs about ``(R / C)^2`` as much. This is not in
            the paper or the code; it exists only to make CPU runs affordable and is recorded in
            every result's config.
        centre: ``False`` (official): the distance compares the aligned pair as is. ``True``:
            per query and frame, the mean of the ``N`` aligned class prototypes is subtracted
            from both sides before the cosine, so adding one vector to every embedding cannot
            change a logit (stops the collapse on frozen features; see the module docstring).
        scale, learn_scale: logits ``= -scale * distance``; ``None`` (official) multiplies by
            nothing; ``learn_scale`` makes it a parameter initialised to ``scale`` (10.0 when
            ``None``), as ProtoNet's option of the same name.
        optimizer, lr, momentum, accumulate_episodes, train_queries_per_class: the official
            training recipe, for the trainer.
    """

    ttm: bool = True
    tc: bool = True
    sc: bool = True
    kshot_align: bool = True
    sc_design: str = "mask"
    sc_impl: str = "decomposed"
    offset_scale: float = 0.75
    jitter: float = 0.2
    jitter_at_test: bool = True
    dropout: float = 0.5
    shots: int | None = None
    return_extras: bool = False
    reduce_channels: int | None = None
    centre: bool = False
    scale: float | None = None
    learn_scale: bool = False
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.0
    accumulate_episodes: int = 16
    train_queries_per_class: int = 5

    def __post_init__(self) -> None:
        if self.sc_design not in ("mask", "grid", "enumerate"):
            raise FsarError(f"sc_design must be mask, grid or enumerate, not {self.sc_design!r}")
        if self.sc_impl not in ("decomposed", "naive"):
            raise FsarError(f"sc_impl must be decomposed or naive, not {self.sc_impl!r}")
        if self.reduce_channels is not None and self.reduce_channels < 1:
            raise FsarError(f"reduce_channels must be None or >= 1, not {self.reduce_channels}")
        if self.shots is not None and self.shots < 1:
            raise FsarError(f"shots must be None or >= 1, not {self.shots}")
        if self.centre and self.sc and self.sc_design == "enumerate":
            raise FsarError("centre is not defined for sc_design='enumerate'")
