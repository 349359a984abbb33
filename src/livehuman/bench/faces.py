"""Harder test faces, synthesized from the real photos the project ships with (no downloads).

The project's own faces are matplotlib's Grace Hopper (closed mouth, large face) and scikit-image's
astronaut (open smile with teeth). Users bring faces unlike those: a mouth open at rest, a small face
in a large frame, a turned head, a hand near the mouth, darker or lighter skin, several people. Each
maker here returns such a photo as a BGR uint8 image; `FACES` names them all, and `write_face` saves
one as a PNG to use as an avatar source.

Every face is built from pixels of a real photo by plain image operations (and, for the mouth open at
rest, by the cpu engine itself), so the same code gives the same faces on any machine.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.default import default_portrait
from livehuman.avatar.landmarks import face_width
from livehuman.errors import LivehumanError

# the face's width (mesh cheek to cheek) in the small faces, and the frame they sit in
SMALL_FACE_WIDTH = 80
SMALL_FRAME = (640, 480)
TURN_DEGREES = 25.0
LAUGH_CROP = (80, 0, 380, 300)  # x0, y0, x1, y1 of the astronaut's head, shown twice the size in the laugh
LIPSTICK = np.array([60.0, 55.0, 175.0])  # BGR of a red lipstick on a lit lip


def astronaut_path() -> Path:
    """scikit-image's astronaut photo (Eileen Collins, NASA, public domain): an open smile with teeth."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    if not path.is_file():
        raise LivehumanError(f"scikit-image's sample photo is missing ({path}); reinstall scikit-image")
    return path


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise LivehumanError(f"cannot read image {path}")
    return image


@lru_cache(maxsize=None)
def _grace() -> np.ndarray:
    image = default_portrait()
    image.setflags(write=False)
    return image


@lru_cache(maxsize=None)
def _landmarks(name: str) -> np.ndarray:
    """The face mesh of one of the base faces (pixels)."""
    from livehuman.avatar.landmarks import FaceMeshDetector

    with FaceMeshDetector(video=False) as detector:
        face = detector.detect(FACES[name]())
    if face is None:
        raise LivehumanError(f"no face found in the {name!r} test face")
    face.points.setflags(write=False)
    return face.points


# --- the base faces -----------------------------------------------------------------------------


def grace() -> np.ndarray:
    """The default avatar's photo: Grace Hopper, closed mouth, 512x512, face about 200 px wide."""
    return _grace().copy()


def astronaut() -> np.ndarray:
    """The astronaut: an open smile with upper teeth showing, 512x512, face about 130 px wide."""
    return _read(astronaut_path())


# --- harder faces -------------------------------------------------------------------------------


def open_at_rest() -> np.ndarray:
    """Grace Hopper with her mouth hanging open (teeth showing), as some people are photographed:
    the cpu engine's own render with the jaw dropped, used as a new photo."""
    from livehuman.avatar.avatar import Avatar
    from livehuman.motion.controls import FaceControls
    from livehuman.render.cpu.engine import CpuEngine
    from livehuman.render.engine import FrameDrive

    image = grace()
    points = _landmarks("grace")
    box = np.concatenate([points.min(0), points.max(0)])
    with tempfile.TemporaryDirectory(prefix="livehuman-face-") as folder:
        avatar = Avatar(
            name="open-at-rest", directory=Path(folder), fps=25.0, kind="photo",
            frames=image[None], landmarks=points[None].astype(np.float32), boxes=box[None].astype(np.float32),
        )
        controls = FaceControls(jaw=0.55, teeth=0.6)
        return CpuEngine(head_motion=False, own_mouth=False).render(avatar, 0, FrameDrive(controls))


def laugh() -> np.ndarray:
    """The astronaut laughing in red lipstick: mouth wide open (an inner-lip gap of about 0.35 of the
    eyes' distance, her own teeth), the thin upper lip in shadow, half as bright as the lower one,
    the face about 190 px wide in 600x600. Her photo, twice the size, its lips painted, rendered by
    the cpu engine with the jaw dropped past an "ah" and used as a new photo. Closing such a mouth
    is where the engine once tore the lip corners and painted the dark upper lip out."""
    from livehuman.avatar.avatar import Avatar
    from livehuman.motion.controls import FaceControls
    from livehuman.render.cpu.engine import CpuEngine
    from livehuman.render.engine import FrameDrive

    x0, y0, x1, y1 = LAUGH_CROP
    image = cv2.resize(astronaut()[y0:y1, x0:x1], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    points = (_landmarks("astronaut") - (x0, y0)) * 2
    image = lipstick(image, points)
    box = np.concatenate([points.min(0), points.max(0)])
    with tempfile.TemporaryDirectory(prefix="livehuman-face-") as folder:
        avatar = Avatar(
            name="laugh", directory=Path(folder), fps=25.0, kind="photo",
            frames=image[None], landmarks=points[None].astype(np.float32), boxes=box[None].astype(np.float32),
        )
        return CpuEngine(head_motion=False).render(avatar, 0, FrameDrive(FaceControls(jaw=1.3, spread=0.3, smile=0.3)))


def lipstick(image: np.ndarray, points: np.ndarray, upper_light: float = 0.5) -> np.ndarray:
    """`image` with its lips painted red, keeping their own light and texture; the upper lip
    `upper_light` times as bright as the lower (a lip in shadow, as under most lights)."""
    from livehuman.render.cpu.face import LOWER_INNER, LOWER_OUTER, LUMA_BGR, UPPER_INNER, UPPER_OUTER, lip_mask

    upper = lip_mask(points, UPPER_OUTER, UPPER_INNER, image.shape)
    lower = lip_mask(points, LOWER_OUTER, LOWER_INNER, image.shape)
    luma = image.astype(np.float64) @ LUMA_BGR
    shade = (luma / np.median(luma[lower]))[..., None]
    out = image.astype(np.float64)
    for mask, light in ((upper, upper_light), (lower, 1.0)):
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)[..., None]
        out = out * (1 - soft) + soft * LIPSTICK * light * shade
    return np.clip(out, 0, 255).astype(np.uint8)


def _small(image: np.ndarray, points: np.ndarray, width: float, frame: tuple[int, int], at=(0.5, 0.42)) -> np.ndarray:
    """`image` scaled so its face is `width` px wide, placed at `at` (fractions) of a larger frame
    whose rest continues the photo's own edges, blurred (a plain wall; never a second face)."""
    scale = width / face_width(points)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    fw, fh = frame
    centre = points.mean(0) * scale
    dx, dy = int(round(at[0] * fw - centre[0])), int(round(at[1] * fh - centre[1]))
    h, w = small.shape[:2]
    x0, y0 = max(dx, 0), max(dy, 0)
    x1, y1 = min(dx + w, fw), min(dy + h, fh)
    part = small[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    wall = cv2.copyMakeBorder(part, y0, fh - y1, x0, fw - x1, cv2.BORDER_REPLICATE)
    wall = cv2.GaussianBlur(wall, (0, 0), max(fw, fh) / 40)
    # the photo fades into the wall over its edges inside the frame
    margin = max(2, min(x1 - x0, y1 - y0) // 12)
    alpha = np.zeros((fh, fw), np.float32)
    alpha[y0 + margin * (y0 > 0) : y1 - margin * (y1 < fh), x0 + margin * (x0 > 0) : x1 - margin * (x1 < fw)] = 1
    alpha = cv2.blur(alpha, (2 * margin + 1, 2 * margin + 1))[..., None]
    photo = wall.copy()
    photo[y0:y1, x0:x1] = part
    return np.clip(photo * alpha + wall * (1 - alpha), 0, 255).astype(np.uint8)


def small_smile() -> np.ndarray:
    """The astronaut's open smile, her face 80 px wide in a 640x480 frame."""
    return _small(astronaut(), _landmarks("astronaut"), SMALL_FACE_WIDTH, SMALL_FRAME)


def small_closed() -> np.ndarray:
    """Grace Hopper's closed mouth, her face 80 px wide in a 640x480 frame."""
    return _small(grace(), _landmarks("grace"), SMALL_FACE_WIDTH, SMALL_FRAME)


def thumbnail() -> np.ndarray:
    """A 112x112 head-and-shoulders photo of Grace Hopper (face about 55 px wide, eyes about 24 px
    apart): animated, with a warning that it is small."""
    points = _landmarks("grace")
    centre = points.mean(0)
    side = 400
    x0 = int(np.clip(round(centre[0] - side / 2), 0, 512 - side))
    y0 = int(np.clip(round(centre[1] - side / 2), 0, 512 - side))
    return cv2.resize(grace()[y0 : y0 + side, x0 : x0 + side], (112, 112), interpolation=cv2.INTER_AREA)


def tiny() -> np.ndarray:
    """The whole default portrait as a 112x112 photo (a face about 42 px wide, eyes 18 px apart):
    below the minimum an avatar is prepared from."""
    return cv2.resize(grace(), (112, 112), interpolation=cv2.INTER_AREA)


def turned(degrees: float = TURN_DEGREES) -> np.ndarray:
    """Grace Hopper with her head turned about 25 degrees (or `degrees`) to the image-left: the face
    drawn on a vertical cylinder through the head, rotated; the far cheek is foreshortened, the near
    one widened."""
    return _turn(grace(), _landmarks("grace"), math.radians(degrees))


def _turn(image: np.ndarray, points: np.ndarray, yaw: float) -> np.ndarray:
    height, width = image.shape[:2]
    centre = float(points[1, 0])  # the nose tip, the axis of the turn
    radius = 0.62 * face_width(points)  # a head is a little wider than its face mesh
    xs = np.arange(width, dtype=np.float64)
    # a source point at x = c + R sin(theta) shows at c + R sin(theta - yaw); points turned past the
    # silhouette are hidden (they collapse onto it), so the map stays monotonic
    theta = np.arcsin(np.clip((xs - centre) / radius, -1, 1))
    turned_x = centre + radius * np.sin(np.clip(theta - yaw, -math.pi / 2, math.pi / 2))
    # beyond the head the scene is untouched; the two meet over a band so nothing tears
    blend = np.clip((np.abs(xs - centre) / radius - 0.8) / 0.6, 0, 1)
    blend = blend * blend * (3 - 2 * blend)
    forward = np.maximum.accumulate((1 - blend) * turned_x + blend * xs)
    source_x = np.interp(xs, forward + 1e-6 * xs, xs)  # the inverse map: which source column each output shows
    # the turn fades out above the forehead and below the neck
    ys = np.arange(height, dtype=np.float64)
    top, bottom = float(points[:, 1].min()), float(points[:, 1].max())
    span = bottom - top
    vertical = np.clip(1 - np.maximum(top - 0.4 * span - ys, ys - bottom - 0.6 * span) / (0.3 * span), 0, 1)
    map_x = xs[None, :] + vertical[:, None] * (source_x - xs)[None, :]
    map_y = np.repeat(ys[:, None], width, 1)
    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def occluded() -> np.ndarray:
    """Grace Hopper with a finger resting against the image-right corner of her mouth (skin-coloured,
    shaded, with a nail), as in a thoughtful pose."""
    image = grace().copy()
    points = _landmarks("grace").astype(np.float64)
    unit = float(np.linalg.norm(points[263] - points[33]))
    corner = points[291]
    # a finger coming up from below-right, its tip just beside the mouth corner
    tip = corner + np.array([0.06, 0.03]) * unit
    direction = np.array([0.45, 1.0]) / np.linalg.norm([0.45, 1.0])
    length, half = 0.9 * unit, 0.15 * unit
    skin = _skin_colour(image, points)
    finger = np.clip(0.8 * skin + 0.2 * skin.mean() + 6, 0, 255)  # a hand: the face's colour, a little paler
    mask = np.zeros(image.shape[:2], np.float32)
    shade = np.zeros(image.shape[:2], np.float32)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float64)
    rel_x, rel_y = xx - tip[0], yy - tip[1]
    along = rel_x * direction[0] + rel_y * direction[1]
    across = -rel_x * direction[1] + rel_y * direction[0]
    # a capsule: distance to the segment tip..base below `half`
    seg = np.clip(along, 0, length)
    dist = np.hypot(along - seg, across)
    mask = np.clip((half - dist) / 1.2 + 0.5, 0, 1).astype(np.float32)
    # round shading across the finger, lit from the upper left
    shade = np.clip(0.78 + 0.32 * np.sqrt(np.clip(1 - (across / half) ** 2, 0, 1)) - 0.12 * (across / half), 0.5, 1.15)
    colour = finger[None, None, :] * shade[..., None]
    nail = np.clip(1 - np.hypot((along - 0.22 * half) / (0.55 * half), across / (0.62 * half)), 0, 1) > 0
    colour[nail] = colour[nail] * 0.85 + np.array([200, 200, 225]) * 0.15 + 12
    out = image.astype(np.float32) * (1 - mask[..., None]) + colour.astype(np.float32) * mask[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _skin_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The median BGR colour of the cheeks."""
    samples = []
    for landmark in (50, 280, 205, 425):
        x, y = np.round(points[landmark]).astype(int)
        samples.append(image[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3))
    return np.median(np.concatenate(samples), axis=0).astype(np.float64)


def _skin_mask(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """0..1 where the photo shows skin: colours near the cheeks' own, feathered."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    skin = cv2.cvtColor(_skin_colour(image, points).astype(np.uint8)[None, None], cv2.COLOR_BGR2LAB)[0, 0].astype(np.float32)
    chroma = np.hypot(lab[..., 1] - skin[1], lab[..., 2] - skin[2])
    mask = np.clip(1 - (chroma - 8) / 10, 0, 1) * np.clip((lab[..., 0] - 40) / 30, 0, 1)
    return cv2.GaussianBlur(mask, (0, 0), 3)


def _recolour(image: np.ndarray, points: np.ndarray, lightness: float, warmth: float) -> np.ndarray:
    """The skin's lightness scaled by `lightness` and its colour pushed `warmth` toward brown (LAB),
    the rest of the photo kept; lips and eyes follow the skin a little less."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    mask = _skin_mask(image, points)
    new = lab.copy()
    new[..., 0] = lab[..., 0] * lightness
    new[..., 1] = 128 + (lab[..., 1] - 128) * (1 + 0.1 * warmth) + 1 * warmth
    new[..., 2] = 128 + (lab[..., 2] - 128) * (1 + 0.1 * warmth) + 4 * warmth
    # the face itself (lips, eyes, brows) follows too, less strongly, so it stays one person
    face = np.zeros(image.shape[:2], np.float32)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(points[:468]).astype(np.int32)), 1.0)
    face = cv2.GaussianBlur(face, (0, 0), 6)
    weight = np.maximum(mask, 0.8 * face)[..., None]
    out = lab * (1 - weight) + new * weight
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def darker() -> np.ndarray:
    """Grace Hopper with darker, browner skin (about half the lightness)."""
    return _recolour(grace(), _landmarks("grace"), 0.55, 1.0)


def lighter() -> np.ndarray:
    """Grace Hopper with lighter, paler skin."""
    return _recolour(grace(), _landmarks("grace"), 1.22, -0.5)


def group() -> np.ndarray:
    """Three people on one 1280x720 canvas, faces of different sizes: Grace Hopper (largest, 140 px
    wide) in the middle, the astronaut (110 px) to the left, a darker, mirrored Grace Hopper (85 px)
    on the right. Far from the camera as in a group photo: each face is a small part of the frame."""
    frame = (1280, 720)
    canvas = np.full((frame[1], frame[0], 3), (168, 176, 182), np.uint8)
    people = (
        (astronaut(), _landmarks("astronaut"), 110, (0.2, 0.45)),
        (np.ascontiguousarray(darker()[:, ::-1]), _mirrored(_landmarks("grace"), 512), 85, (0.8, 0.5)),
        (grace(), _landmarks("grace"), 140, (0.5, 0.4)),
    )
    for image, points, width, at in people:
        scale = width / face_width(points)
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        centre = points.mean(0) * scale
        dx, dy = int(round(at[0] * frame[0] - centre[0])), int(round(at[1] * frame[1] - centre[1]))
        # each portrait fades into the canvas at its edges
        alpha = np.zeros((h, w), np.float32)
        margin = max(4, w // 10)
        alpha[margin:-margin, margin:-margin] = 1
        alpha = cv2.GaussianBlur(alpha, (0, 0), margin / 2)[..., None]
        x0, y0, x1, y1 = max(dx, 0), max(dy, 0), min(dx + w, frame[0]), min(dy + h, frame[1])
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        part, a = small[y0 - dy : y1 - dy, x0 - dx : x1 - dx].astype(np.float32), alpha[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
        canvas[y0:y1, x0:x1] = np.clip(region * (1 - a) + part * a, 0, 255).astype(np.uint8)
    return canvas


def _mirrored(points: np.ndarray, width: int) -> np.ndarray:
    out = points.copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


FACES: dict[str, Callable[[], np.ndarray]] = {
    "grace": grace,
    "astronaut": astronaut,
    "open_at_rest": open_at_rest,
    "laugh": laugh,
    "small_smile": small_smile,
    "small_closed": small_closed,
    "turned": turned,
    "occluded": occluded,
    "darker": darker,
    "lighter": lighter,
    "group": group,
    "thumbnail": thumbnail,
    "tiny": tiny,
}
# faces an avatar is prepared from (tiny is below the documented minimum on purpose)
ANIMATABLE = tuple(name for name in FACES if name != "tiny")


def make_face(name: str) -> np.ndarray:
    """The test face `name` (a key of FACES) as a BGR uint8 image."""
    if name not in FACES:
        raise LivehumanError(f"unknown test face {name!r}; known: {', '.join(FACES)}")
    return FACES[name]()


def write_face(name: str, folder: str | Path) -> Path:
    """The test face `name` saved as `folder/name.png` (lossless), for use as an avatar source."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), make_face(name)):
        raise LivehumanError(f"cannot write {path}")
    return path
