"""Synthetic dataset configurations: the presets and the single-factor levels.

See :mod:`fsar_bench.data.synthetic` for what the factors do to a video.

Presets (``mid`` is the default), loosely following the ordering UCF101 < HMDB51 < SSv2 that
the TA2N paper measures (start times within the first 1-2 of 8 sampled frames for UCF101 and
HMDB51, spread over the first four for SSv2):

| preset | duration (fraction of video) | start | warp_sigma | offset (fraction of size) |
| --- | --- | --- | --- | --- |
| none | 1.0 (whole video) | 0 | 0 | 0 |
| low | U(0.8, 1.0) | uniform in the slack | 0.25 | 0.03 |
| mid | U(0.6, 0.9) | uniform in the slack | 0.5 | 0.06 |
| high | U(0.4, 0.8) | uniform in the slack | 1.0 | 0.12 |

Single-factor levels (:func:`factor_config`, dataset names ``synthetic-<factor>-<level>``) vary
one factor and hold the other two at ``none``, so that a measure can be attributed to one cause:

| factor | what moves | named level (none/low/mid/high) | a number ``x`` as level |
| --- | --- | --- | --- |
| duration | action length and start | the preset's duration range | ``U(x, 1)``, ``0 < x <= 1`` |
| evolution | warp of the progress | the preset's ``warp_sigma`` | ``warp_sigma = x >= 0`` |
| spatial | actor's neutral position | the preset's ``offset`` | ``offset = x <= 0.25`` |

A numeric level is the factor's own parameter (for duration, the shortest action as a fraction of
the video; ``U(0.8, 1)`` is also the ``low`` preset's range, while ``mid`` and ``high`` have upper
bounds below 1). Names are canonical: a number equal to a named level's value takes that name
(``evolution-0.5`` is ``evolution-mid``), numbers are written with ``format(x, "g")``, and every
factor at ``none`` is the ``none`` preset itself.

"""

from __future__ import annotations

import dataclasses
import difflib
import math

from fsar_bench.data import synthetic_render as render
from fsar_bench.errors import FsarError, require

MAX_CLASSES = 2 * (math.comb(len(render.PRIMITIVES), 2) + math.comb(len(render.PRIMITIVES), 3))


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """Everything that determines a synthetic dataset (defaults: the ``mid`` preset).

    Attributes:
        preset: the preset or single-factor level (``"evolution-high"``) these values started
            from (recorded in ``config.json``, hence in the feature-cache key; not used).
        seed: root seed of every random draw.
        train_classes, val_classes, test_classes: classes per split (even, >= 2: twins share a
            split).
        videos_per_class: videos generated per class.
        frames: frames per video.
        size: frame side in pixels (square frames).
        duration: ``(low, high)`` action length as a fraction of the video (a number: fixed).
        warp_sigma: std of the log piece slopes of the evolution warp (0: no warp).
        offset: maximum spatial offset per axis as a fraction of ``size``.
        background_blur, background_contrast: the background photo is blurred (Gaussian radius
            in px at 128 px frames, scaled with ``size``) and its contrast scaled, so that the
            actor's motion, not the background's texture, dominates frozen-backbone features.
            With sharp backgrounds (0, 1), a linear probe on frozen EfficientNet-Lite0 features
            was at chance on the class (measured; see the README).
        jpeg_quality: JPEG quality of the frames.
    """

    preset: str = "mid"
    seed: int = 0
    train_classes: int = 64
    val_classes: int = 12
    test_classes: int = 24
    videos_per_class: int = 20
    frames: int = 32
    size: int = 128
    duration: tuple[float, float] = (0.6, 0.9)
    warp_sigma: float = 0.5
    offset: float = 0.06
    background_blur: float = 6.0
    background_contrast: float = 0.5
    jpeg_quality: int = 85

    def __post_init__(self) -> None:
        d = self.duration
        d = (d, d) if isinstance(d, int | float) else d  # a number: a fixed duration
        object.__setattr__(self, "duration", tuple(float(v) for v in d))
        require(_checks(self), "synthetic config")

    @property
    def class_counts(self) -> dict[str, int]:
        return {"train": self.train_classes, "val": self.val_classes, "test": self.test_classes}


def _checks(c: SyntheticConfig) -> list[tuple[bool, str]]:
    counts = c.class_counts.values()
    checks = [
        (all(n >= 2 and n % 2 == 0 for n in counts), "classes per split: even (twins), >= 2"),
        (sum(counts) <= MAX_CLASSES, f"at most {MAX_CLASSES} classes in all"),
        (c.seed >= 0, "seed must be >= 0"),
        (c.videos_per_class >= 1, "videos_per_class must be >= 1"),
        (c.frames >= 2, "frames must be >= 2"),
        (c.size >= 32, "size must be >= 32"),
        (
            len(c.duration) == 2 and 0 < c.duration[0] <= c.duration[-1] <= 1,
            "need 0 < duration <= 1",
        ),
        (c.warp_sigma >= 0, "warp_sigma must be >= 0"),
        (0 <= c.offset <= 0.25, "offset must be in [0, 0.25]"),
        (1 <= c.jpeg_quality <= 95, "jpeg_quality must be in [1, 95]"),
    ]
    return checks


LEVEL_CONFIGS: dict[str, SyntheticConfig] = {  # the named presets, by misalignment level
    "none": SyntheticConfig(preset="none", duration=(1.0, 1.0), warp_sigma=0.0, offset=0.0),
    "low": SyntheticConfig(preset="low", duration=(0.8, 1.0), warp_sigma=0.25, offset=0.03),
    "mid": SyntheticConfig(preset="mid"),
    "high": SyntheticConfig(preset="high", duration=(0.4, 0.8), warp_sigma=1.0, offset=0.12),
}


def preset(name: str, **overrides: object) -> SyntheticConfig:
    """The named preset's config with ``overrides`` (field name -> value) applied."""
    if name not in LEVEL_CONFIGS:
        close = difflib.get_close_matches(name, LEVEL_CONFIGS, n=2)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise FsarError(
            f"unknown synthetic preset {name!r}; {hint}choose from {', '.join(LEVEL_CONFIGS)}"
        )
    fields = sorted(f.name for f in dataclasses.fields(SyntheticConfig) if f.name != "preset")
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise FsarError(
            f"unknown synthetic config field(s) {', '.join(unknown)}; valid: {', '.join(fields)}"
        )
    return dataclasses.replace(LEVEL_CONFIGS[name], **overrides)


FACTORS = ("duration", "evolution", "spatial")
LEVELS = tuple(LEVEL_CONFIGS)  # increasing misalignment
_FACTOR_FIELD = {"duration": "duration", "evolution": "warp_sigma", "spatial": "offset"}


def _factor_value(factor: str, level: str) -> object:
    """The value of ``factor``'s config field at ``level`` (a level name or a number)."""
    if level in LEVELS:
        return getattr(LEVEL_CONFIGS[level], _FACTOR_FIELD[factor])
    try:
        x = float(level)
    except ValueError:
        close = difflib.get_close_matches(level, LEVELS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise FsarError(
            f"unknown synthetic level {level!r} of {factor}; {hint}use one of "
            f"{', '.join(LEVELS)} or a number (the factor's own parameter)"
        ) from None
    if not math.isfinite(x):
        raise FsarError(f"synthetic level of {factor} must be a finite number, not {level!r}")
    return (x, 1.0) if factor == "duration" else x


def level_name(factor: str, level: str | float) -> str:
    """Canonical ``"<factor>-<level>"`` (``"none"`` when nothing is misaligned).

    Args:
        factor: one of :data:`FACTORS`.
        level: a name of :data:`LEVELS`, a number, or a number as text (see the module docstring).
    """
    if factor not in FACTORS:
        close = difflib.get_close_matches(factor, FACTORS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise FsarError(
            f"unknown synthetic factor {factor!r}; {hint}choose from {', '.join(FACTORS)}"
        )
    text = str(level).strip().lower()
    value = _factor_value(factor, text)
    named = [n for n in LEVELS if _factor_value(factor, n) == value]
    if named:
        return "none" if named[0] == "none" else f"{factor}-{named[0]}"
    return f"{factor}-{format(float(text), 'g')}"


def factor_config(factor: str, level: str | float, **overrides: object) -> SyntheticConfig:
    """The config of one factor at ``level``, the other factors at ``none``.

    Args:
        factor: ``"duration"``, ``"evolution"`` or ``"spatial"``.
        level: ``"none"``, ``"low"``, ``"mid"``, ``"high"`` (the presets' values of that factor)
            or a number, the factor's own parameter (see the module docstring).
        overrides: other fields, as for :func:`preset`.

    Returns:
        The config, its ``preset`` field set to :func:`level_name` (e.g. ``"evolution-high"``).
    """
    name = level_name(factor, level)
    if name == "none":
        return preset("none", **overrides)
    value = _factor_value(factor, name.split("-", 1)[1])
    fields = {_FACTOR_FIELD[factor]: value, **overrides}
    config = preset("none", **fields)
    return dataclasses.replace(config, preset=name)


def config_for(spec: str, **overrides: object) -> SyntheticConfig:
    """A preset (``"mid"``) or a single-factor level (``"evolution-high"``) with ``overrides``."""
    if spec in LEVEL_CONFIGS:
        return preset(spec, **overrides)
    factor, sep, level = spec.partition("-")
    if not sep or factor not in FACTORS:
        raise FsarError(
            f"unknown synthetic level {spec!r}; choose a preset ({', '.join(LEVEL_CONFIGS)}) or "
            f"FACTOR-LEVEL with FACTOR in {', '.join(FACTORS)}"
        )
    return factor_config(factor, level, **overrides)
