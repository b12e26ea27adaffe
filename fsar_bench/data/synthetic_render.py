"""Image sources, actor motion and frame rendering for the synthetic dataset.

Sources: ``PHOTOS``, real photographs bundled with scikit-image (``skimage.data``); each loads
offline (checked with the network blocked). Not used: images ``skimage.data`` fetches with pooch
(eagle, lily, brain, ...), drawings and masks (logo, colorwheel, horse) and near-flat photos
(moon, page, text, clock, cell). Grey photos are stacked to RGB. Every video takes a random square
crop of one photo as its static background and cuts its "actor" from a different photo; both
choices are class-independent, so appearance carries no class information.

The actor is a square patch (``ACTOR_FRACTION`` of the frame side) with a soft elliptical alpha mask
(wider than tall, so rotation changes its silhouette) and a dark rim (visible on any background),
composited with a bilinear affine warp. Frames are JPEG, 4:2:0, no optimisation: deterministic
bytes for a given Pillow and libjpeg.

Motion model. The actor's state is ``(x, y, scale, angle)``: centre in pixels, scale relative to
the patch, angle in degrees clockwise. The neutral state is the frame centre plus the video's
spatial offset, scale 1, angle 0. A class is a sequence of K primitives; the action progress
``p`` in [0, 1] is cut into K equal segments and primitive k drives one attribute out and back,
``neutral + peak * sin(pi * local_p)``, while the others stay neutral. Such "absolute" primitives
make the states of a segment independent of its position, so permutations of the same primitives
have the same multiset of frame states; each segment starts and ends neutral, so trajectories are
continuous. Each primitive is also a palindrome in time, so a class played backwards is exactly the
class with its primitives reversed (its twin).

| primitive | attribute | peak |
| --- | --- | --- |
| right / left | x | +/- ``MOVE`` x frame side |
| down / up | y | +/- ``MOVE`` x frame side (image y points down) |
| grow / shrink | scale | x ``GROW`` / divided by ``GROW`` (log-scale out and back) |
| rotcw / rotccw | angle | +/- ``TURN`` degrees |
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image

PHOTOS: tuple[str, ...] = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "retina",
    "rocket",
)
MOVE = 0.25
GROW = 1.6
TURN = 90.0
ACTOR_FRACTION = 0.4
# name -> (state attribute: 0 x, 1 y, 2 log-scale, 3 angle; signed peak in that attribute's unit)
PRIMITIVES: dict[str, tuple[int, float]] = {
    "right": (0, MOVE),
    "left": (0, -MOVE),
    "up": (1, -MOVE),
    "down": (1, MOVE),
    "grow": (2, float(np.log(GROW))),
    "shrink": (2, -float(np.log(GROW))),
    "rotcw": (3, TURN),
    "rotccw": (3, -TURN),
}


@cache
def load_photo(name: str) -> np.ndarray:
    """A bundled photograph as RGB ``uint8 [H, W, 3]`` (read-only, cached)."""
    import skimage.data

    if name == "motorcycle_left":
        image = skimage.data.stereo_motorcycle()[0]
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3])
    image.setflags(write=False)
    return image


def crop(name: str, box: tuple[int, int, int], side: int) -> Image.Image:
    """The square ``box = (x0, y0, width)`` of photo ``name``, resized to ``side`` px (RGB)."""
    x0, y0, w = box
    region = load_photo(name)[y0 : y0 + w, x0 : x0 + w]
    return Image.fromarray(region).resize((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)


def soften(image: Image.Image, blur: float, contrast: float) -> Image.Image:
    """Gaussian blur (radius in px) and contrast scaling of a background; identity at (0, 1)."""
    from PIL import ImageEnhance, ImageFilter

    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if contrast != 1:
        image = ImageEnhance.Contrast(image).enhance(contrast)
    return image


def make_actor(name: str, box: tuple[int, int, int], frame_size: int) -> Image.Image:
    """The actor: a crop with a soft elliptical alpha mask and a dark rim, RGBA ``[P, P]``."""
    side = max(8, round(ACTOR_FRACTION * frame_size))
    rgb = np.asarray(crop(name, box, side), dtype=np.float32)  # [P, P, 3]
    centre = (side - 1) / 2
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    r = np.hypot((xx - centre) / (0.48 * side), (yy - centre) / (0.34 * side))  # 1 on the ellipse
    edge = 1.5 / (0.34 * side)  # about 1.5 px in normalised radius
    alpha = np.clip((1.0 - r) / edge, 0.0, 1.0)
    rim = np.clip(1.0 - np.abs(r - (1.0 - 2 * edge)) / (1.5 * edge), 0.0, 1.0)
    rgb *= 1.0 - 0.8 * rim[..., None]
    rgba = np.concatenate([rgb, 255.0 * alpha[..., None]], axis=-1)
    return Image.fromarray(np.round(rgba).astype(np.uint8), "RGBA")


def actor_states(
    primitives: tuple[str, ...] | list[str],
    progress: np.ndarray,
    size: int,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Actor state per frame from the action progress.

    Args:
        primitives: the class's primitive names, in order.
        progress: ``[T]`` action progress in [0, 1], NaN where the action is not happening.
        size: frame side in pixels.
        offset: spatial offset ``(dx, dy)`` of the neutral position, in pixels.

    Returns:
        ``[T, 4]`` float array ``(x, y, scale, angle)``; rows are NaN outside the action.
    """
    p = np.asarray(progress, dtype=np.float64)
    k = len(primitives)
    segment = np.minimum(np.floor(p * k), k - 1)  # NaN stays NaN
    bump = np.sin(np.pi * (p * k - segment))
    delta = np.zeros((len(p), 4))
    for i, name in enumerate(primitives):
        attribute, peak = PRIMITIVES[name]
        active = segment == i
        delta[active, attribute] = peak * bump[active]
    states = np.stack(
        [
            size / 2 + offset[0] + size * delta[:, 0],
            size / 2 + offset[1] + size * delta[:, 1],
            np.exp(delta[:, 2]),
            delta[:, 3],
        ],
        axis=1,
    )
    states[np.isnan(p)] = np.nan
    return states


def render_frame(background: Image.Image, actor: Image.Image, state: np.ndarray) -> Image.Image:
    """Composite ``actor`` (RGBA) onto ``background`` (RGB) at ``state = (x, y, scale, angle)``.

    A NaN state (no action) returns the background unchanged.
    """
    if np.isnan(state).any():
        return background
    x, y, scale, angle = (float(v) for v in state)
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    half = actor.width / 2
    reach = half * np.sqrt(2) * scale + 2  # the warped patch lies within this radius of (x, y)
    x0, y0 = max(0, int(x - reach)), max(0, int(y - reach))
    x1 = min(background.width, int(x + reach) + 1)
    y1 = min(background.height, int(y + reach) + 1)
    if x1 <= x0 or y1 <= y0:
        return background
    # output pixel (x0 + u, y0 + v) -> actor pixel: R(-angle) [(x0 + u, y0 + v) - (x, y)] / scale
    # + centre; only the actor's bounding box is warped
    dx, dy = x0 - x, y0 - y
    coeffs = (cos, sin, half + cos * dx + sin * dy, -sin, cos, half - sin * dx + cos * dy)
    layer = actor.transform(
        (x1 - x0, y1 - y0), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
    )
    frame = background.copy()
    frame.paste(layer, (x0, y0), layer)
    return frame


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of ``image`` (fixed settings: deterministic for a given Pillow/libjpeg)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False, subsampling=2)
    return buffer.getvalue()


def render_video(
    background: Image.Image, actor: Image.Image, states: np.ndarray, quality: int
) -> list[bytes]:
    """JPEG bytes of every frame of one video; idle frames reuse the background's bytes.

    Args:
        background: RGB frame-sized background.
        actor: RGBA actor patch from :func:`make_actor`.
        states: ``[T, 4]`` from :func:`actor_states` (NaN rows: background only).
        quality: JPEG quality.
    """
    idle = encode_jpeg(background, quality)
    return [
        idle if np.isnan(s).any() else encode_jpeg(render_frame(background, actor, s), quality)
        for s in states
    ]


def render_record(record: dict, size: int, quality: int) -> list[bytes]:
    """JPEG bytes of the frames of a ground-truth record (``fsar_bench.data.synthetic``).

    The record gives the photos, crop boxes and per-frame states (``None``: no actor).
    """
    bg = record["background"]
    background = crop(bg["photo"], bg["box"], size)
    background = soften(background, bg.get("blur", 0), bg.get("contrast", 1))
    actor = make_actor(record["actor"]["photo"], record["actor"]["box"], size)
    states = np.array([[np.nan] * 4 if s is None else s for s in record["states"]])  # [T, 4]
    return render_video(background, actor, states, quality)
