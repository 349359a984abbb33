"""Blinks on real faces: the upper lid slides down over the eye, re-detected with mediapipe's face mesh.

Faces: Grace Hopper (glasses, a large face), the astronaut (a small face, no glasses), Grace Hopper
shrunk into a larger canvas (a face about 100 px wide), a darker-skinned variant of her photo (a
colour transform) and the default avatar's portrait. Every frame checked is the cpu engine's output.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import default_portrait
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular
from livehuman.motion.controls import FaceControls
from livehuman.render.cpu.engine import CpuEngine
from livehuman.render.cpu.face import EYES, IRISES, LUMA_BGR
from livehuman.render.engine import FrameDrive

FACES = ("grace", "astronaut", "small", "dark", "default")
BLINKS = (0.0, 0.3, 0.6, 0.85, 1.0)
# The most open a fully shut eye may read, as a share of the open eye. mediapipe never reads a shut
# eye as fully shut: a real person's full blink (a talking-head video) measures 0.22 of her open
# eyes, and her real shut eyes pasted onto Grace Hopper's face (glasses) read 0.48; dark rims drawn
# above the astronaut's rendered shut eyes raise her reading from 0.16 to 0.26-0.30
# (docs/benchmarks.md, "Blinks"). The astronaut's are held to the target, the faces in glasses to a
# little above what they read (0.28-0.37).
SHUT = {"astronaut": 0.2, "grace": 0.42, "small": 0.45, "dark": 0.42, "default": 0.4}


def small_face(image: np.ndarray) -> np.ndarray:
    """The photo shrunk into a larger grey canvas: a face about 100 px wide."""
    small = cv2.resize(image, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 480, 3), 128, np.uint8)
    h, w = small.shape[:2]
    canvas[100 : 100 + h, 120 : 120 + w] = small
    return canvas


def darker_skin(image: np.ndarray) -> np.ndarray:
    """A darker, browner skin: the photo's colours darkened (gamma) and warmed."""
    f = (image.astype(np.float32) / 255) ** 1.5 * np.array([0.55, 0.6, 0.62], np.float32)
    return np.clip(f * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def detector():
    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="module")
def avatars(detector, grace_hopper_path, astronaut_path, tmp_path_factory):
    grace = cv2.imread(str(grace_hopper_path), cv2.IMREAD_COLOR)
    images = {
        "grace": grace,
        "astronaut": cv2.imread(str(astronaut_path), cv2.IMREAD_COLOR),
        "small": small_face(grace),
        "dark": darker_skin(grace),
        "default": default_portrait(),
    }
    out = {}
    for name, image in images.items():
        face = detector.detect(image)
        assert face is not None, name
        out[name] = Avatar(name=name, directory=Path(tmp_path_factory.mktemp(name)), fps=25, kind="photo",
                           frames=image[None], landmarks=face.points[None], boxes=face.box[None])
    return out


@pytest.fixture(scope="module")
def engine():
    return CpuEngine(head_motion=False)


def render(engine, avatar, **controls) -> np.ndarray:
    return engine.render(avatar, 0, FrameDrive(FaceControls(**controls)))


def eye_opening(points: np.ndarray) -> float:
    """Both eyes' lid gaps (159-145, 386-374) over the inter-ocular distance."""
    return (np.linalg.norm(points[145] - points[159]) + np.linalg.norm(points[374] - points[386])) / (
        2 * inter_ocular(points))


def visible_irises(shape: tuple[int, ...], points: np.ndarray, raise_lower: float = 0.0) -> np.ndarray:
    """1 on each iris's disk where the open lids show it (the lower lid raised by `raise_lower`, in px)."""
    mask = np.zeros(shape[:2], np.uint8)
    for (upper, lower), iris in zip(EYES, IRISES):
        opening = np.zeros_like(mask)
        raised = points[lower] - (0, raise_lower)
        cv2.fillPoly(opening, [np.round(np.concatenate([points[upper], raised[::-1]])).astype(np.int32)], 1)
        disk = np.zeros_like(mask)
        radius = np.linalg.norm(points[iris[1]] - points[iris[3]]) / 2
        cv2.circle(disk, tuple(int(v) for v in np.round(points[iris[0]])), int(round(radius)), 1, -1)
        mask |= opening & disk
    return mask


def iris_dark_pixels(frame: np.ndarray, avatar: Avatar) -> int:
    """Dark pixels (iris and pupil) in the source's irises, above where the shut lids' lashes lie."""
    points = avatar.landmarks[0]
    unit = inter_ocular(points)
    mask = visible_irises(frame.shape, points, raise_lower=0.1 * unit)  # clear of the lash line
    luma = frame.astype(np.float32) @ LUMA_BGR.astype(np.float32)
    # the skin's brightness: the forehead between the brows is plain skin on every face here
    centre = points[[33, 263]].mean(0)
    skin = float(np.median(luma[int(centre[1] - 0.45 * unit) : int(centre[1] - 0.3 * unit),
                                int(centre[0] - 0.1 * unit) : int(centre[0] + 0.1 * unit)]))
    return int(((luma < 0.5 * skin) & (mask > 0)).sum())


@pytest.fixture(scope="module")
def blinks(avatars, engine, detector, test_output):
    """Each face at each blink value: the frame and its re-detected eye opening; a strip for people."""
    out, rows = {}, []
    for name, avatar in avatars.items():
        points = avatar.landmarks[0]
        unit = inter_ocular(points)
        cx, cy = points[[33, 263]].mean(0)
        tiles = []
        for b in BLINKS:
            frame = render(engine, avatar, blink=b)
            face = detector.detect(frame)
            assert face is not None, f"{name} blink {b}: the face mesh lost the face"
            out[name, b] = (frame, eye_opening(face.points))
            crop = frame[int(cy - 0.5 * unit) : int(cy + 0.4 * unit), int(cx - 1.1 * unit) : int(cx + 1.1 * unit)]
            tiles.append(cv2.resize(crop, (264, 108), interpolation=cv2.INTER_AREA))
        rows.append(np.hstack(tiles))
    cv2.imwrite(str(test_output / "eyes_blink.png"), np.vstack(rows))
    print("\n".join(f"{n:10s} blink {b:.2f}: opening {o:.3f}" for (n, b), (_, o) in out.items()))
    return out


@pytest.mark.parametrize("name", FACES)
def test_a_full_blink_shuts_the_eyes(blinks, name):
    opened, shut = blinks[name, 0.0][1], blinks[name, 1.0][1]
    assert shut <= SHUT[name] * opened, (opened, shut)
    # the eyes close steadily as the lids come down
    openings = [blinks[name, b][1] for b in BLINKS]
    assert openings[-1] < openings[2] < openings[0], openings


@pytest.mark.parametrize("name", FACES)
def test_the_iris_disappears_under_the_lid(blinks, avatars, name):
    dark = [iris_dark_pixels(blinks[name, b][0], avatars[name]) for b in BLINKS]
    assert dark[0] >= 12, dark  # the open eyes show their irises
    assert dark[3] < 0.5 * dark[0], dark  # fewer as the lids come down (their lashes are dark too)
    assert dark[-1] <= 0.1 * dark[0], dark  # and none once they are shut


@pytest.mark.parametrize("name", ["grace", "astronaut", "dark"])
def test_the_lid_slides_over_the_eye_from_the_top(blinks, avatars, name):
    """No cross-fade: below the moving lid the eye is exactly as it was, above it the lid covers it,
    and the lid's edge comes down the iris as the blink deepens."""
    avatar = avatars[name]
    points = avatar.landmarks[0]
    opened = blinks[name, 0.0][0].astype(np.int16)
    edges = []
    for b in BLINKS[1:]:
        frame = blinks[name, b][0].astype(np.int16)
        for iris in IRISES:
            x = int(round(points[iris[0], 0]))
            changed = np.flatnonzero(np.abs(frame[:, x] - opened[:, x]).max(-1) > 0)
            assert len(changed), (b, "the lid did not move")
            lowest = changed.max()
            # every row below the lid's edge in this column is untouched: nothing fades in or out
            assert not np.any(np.abs(frame[lowest + 1 :, x] - opened[lowest + 1 :, x]) > 0)
            edges.append((b, iris[0], lowest))
    for iris in (IRISES[0][0], IRISES[1][0]):
        rows = [lowest for _, i, lowest in edges if i == iris]
        assert rows == sorted(rows) and rows[-1] > rows[0], rows  # the edge comes down


@pytest.mark.parametrize("name", ["grace", "astronaut"])
def test_a_half_blink_is_no_blend_of_open_and_shut(blinks, avatars, name):
    """At blink 0.7 the eye region is far from any mix a*open + (1-a)*shut."""
    points = avatars[name].landmarks[0]
    unit = inter_ocular(points)
    x0, y0 = (points[list(EYES[0][0])].min(0) - 0.05 * unit).astype(int)
    x1, y1 = (points[list(EYES[1][1])].max(0) + 0.05 * unit).astype(int)
    box = (slice(y0, y1), slice(x0, x1))
    o, s = (blinks[name, b][0][box].astype(np.float64) for b in (0.0, 1.0))
    half = render(CpuEngine(head_motion=False), avatars[name], blink=0.7)[box].astype(np.float64)
    d = (o - s).ravel()
    a = float(np.clip(((half - s).ravel() @ d) / (d @ d), 0, 1))
    blend = a * o + (1 - a) * s
    assert np.abs(half - blend).mean() > 0.3 * np.abs(o - s).mean(), a


def fine_detail(image: np.ndarray) -> np.ndarray:
    """The brightness's grain: what a 1-pixel blur takes away."""
    luma = image.astype(np.float32) @ LUMA_BGR.astype(np.float32)
    return luma - cv2.GaussianBlur(luma, (0, 0), 1.0)


@pytest.mark.parametrize("name", FACES)
def test_the_shut_lid_is_skin_with_its_grain(blinks, avatars, name):
    """The lid is the face's skin, not a blur: mid-lid it keeps a good share of the grain of the skin
    under the eye (a stretched and blurred lid kept 0.16-0.27 of it on four of these faces)."""
    avatar = avatars[name]
    points = avatar.landmarks[0]
    unit = inter_ocular(points)
    shut, source = fine_detail(blinks[name, 1.0][0]), fine_detail(avatar.frames[0])
    r = max(2, int(0.06 * unit))
    for upper, lower in EYES:
        mid = (points[upper[4]] + points[lower[4]]) / 2  # the open eye's middle: mid-lid once shut
        cheek = points[lower[4]] + (0, 0.15 * unit)

        def box(image, at):
            x, y = int(at[0]), int(at[1])
            return image[y - r : y + r, x - 2 * r : x + 2 * r]

        assert box(shut, mid).std() >= 0.35 * box(source, cheek).std(), (box(shut, mid).std(), box(source, cheek).std())


def row_banding(frame: np.ndarray, points: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float | None:
    """How striped a shut lid is: the spread (grey levels) of its rows' mean brightness about a smooth
    profile, over the middle half of the eye, from the open lid's line to above the shut lashes
    (None when the eye is too narrow for three such rows)."""
    unit = inter_ocular(points)
    luma = frame.astype(np.float32) @ LUMA_BGR.astype(np.float32)
    x0, x1 = sorted((points[upper[0], 0], points[upper[-1], 0]))
    middle, half = (x0 + x1) / 2, (x1 - x0) / 4
    top, bottom = points[upper, 1].min(), points[lower, 1].max() - 0.08 * unit
    rows = luma[int(top) : int(bottom), int(middle - half) : int(middle + half)].mean(1)
    if len(rows) < 3:
        return None
    return float((rows - cv2.GaussianBlur(rows.reshape(-1, 1), (0, 0), 0.04 * unit).ravel()).std())


@pytest.mark.parametrize("name", [name for name in FACES if name != "small"])  # (its lid: two rows)
def test_the_shut_lid_has_no_stripes(blinks, avatars, name):
    """The lid's grain is drawn fresh, as strong as the skin's under the eye, not the band of skin
    above the lashes reflected down the lid: reflected, a crease, the edge of eye shadow or a rim
    repeated as stripes across the shut eye (both eyes' mean banding 2.1-4.1 grey levels on these
    faces before, 0.8-2.1 now)."""
    points = avatars[name].landmarks[0]
    shut = blinks[name, 1.0][0]
    banding = [b for upper, lower in EYES if (b := row_banding(shut, points, upper, lower)) is not None]
    assert banding and np.mean(banding) < 2.6, banding


def test_a_moving_video_faces_shut_lid_keeps_its_grain(avatars, tmp_path):
    """A video avatar: each frame blinks from its own source frame. The lid's grain is a function of
    the place from the eye, so as the face moves (here 1-3 px a frame) the shut lid shows the same
    grain, not a new one each frame (grain drawn afresh per frame boils)."""
    source = avatars["astronaut"]
    shifts = [(0, 0), (1, 0), (3, 1), (2, 3)]
    frames = np.stack([np.roll(source.frames[0], (dy, dx), axis=(0, 1)) for dx, dy in shifts])
    landmarks = np.stack([source.landmarks[0] + (dx, dy) for dx, dy in shifts]).astype(np.float32)
    video = Avatar(name="moving", directory=tmp_path, fps=25, kind="video", frames=frames, landmarks=landmarks,
                   boxes=np.stack([source.boxes[0] + (dx, dy, dx, dy) for dx, dy in shifts]).astype(np.float32))
    engine = CpuEngine(head_motion=False)
    unit = inter_ocular(source.landmarks[0])
    lids = []
    for k, (dx, dy) in enumerate(shifts):
        shut = engine.render(video, k, FrameDrive(FaceControls(blink=1.0))).astype(np.float32) @ LUMA_BGR.astype(np.float32)
        grain = shut - cv2.GaussianBlur(shut, (0, 0), 1.0)
        upper, lower = EYES[1]
        x, y = np.round((source.landmarks[0][upper[4]] + source.landmarks[0][lower[4]]) / 2 + (dx, dy)).astype(int)
        r = max(2, int(0.06 * unit))
        lids.append(grain[y - r : y + r, x - 2 * r : x + 2 * r].ravel())
    for a, b in zip(lids, lids[1:]):
        assert np.corrcoef(a, b)[0, 1] > 0.6


def deep_set(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Deep-set eyes: a broad shadow over each eye's socket, from the upper lid to under the brow."""
    unit = inter_ocular(points)
    shade = np.zeros(image.shape[:2], np.float32)
    for upper, _ in EYES:
        x0, x1 = sorted((points[upper[0], 0], points[upper[-1], 0]))
        centre = (int((x0 + x1) / 2), int(points[upper, 1].min() - 0.08 * unit))
        cv2.ellipse(shade, centre, (int(0.6 * (x1 - x0)), int(0.12 * unit)), 0, 0, 360, 1.0, -1)
    shade = cv2.GaussianBlur(shade, (0, 0), 0.04 * unit)
    return np.clip(image * (1 - 0.6 * shade)[..., None], 0, 255).astype(np.uint8)


def shut_frame(image: np.ndarray, detector, engine, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """A photo avatar of `image` with its eyes shut: the frame (BGR, float) and the photo's landmarks."""
    face = detector.detect(image)
    avatar = Avatar(name="made", directory=tmp_path, fps=25, kind="photo", frames=image[None],
                    landmarks=face.points[None], boxes=face.box[None])
    return render(engine, avatar, blink=1.0).astype(np.float32), face.points


def shut_eyes(image: np.ndarray, detector, engine, tmp_path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A photo avatar of `image` blinking: the brightness of its frame with the eyes shut and of the
    photo, its landmarks and its inter-ocular distance."""
    shut, points = shut_frame(image, detector, engine, tmp_path)
    luma = LUMA_BGR.astype(np.float32)
    return shut @ luma, image.astype(np.float32) @ luma, points, inter_ocular(points)


def brightness(luma: np.ndarray, at: np.ndarray, unit: float) -> float:
    """The median brightness of a patch 0.1 of the eyes' distance high and 0.2 wide at `at`."""
    r = max(2, int(0.05 * unit))
    x, y = int(at[0]), int(at[1])
    return float(np.median(luma[y - r : y + r, x - 2 * r : x + 2 * r]))


def test_a_deep_set_eyes_shut_lid_keeps_the_sockets_shade(avatars, detector, engine, tmp_path):
    """A shut lid is as shaded as the socket it comes down from. Dark used to be judged against the
    whole box around the eye, so a socket's broad shadow counted as "not skin" (like a lash) and the
    lid was painted in the cheek's light: a pale oval in a dark socket (real photos of deep-set eyes;
    here 1.4-1.5x the socket's brightness; now 0.95)."""
    astronaut = avatars["astronaut"]
    shut, source, points, unit = shut_eyes(deep_set(astronaut.frames[0], astronaut.landmarks[0]), detector,
                                           engine, tmp_path)
    for upper, lower in EYES:
        lid = brightness(shut, (points[upper[4]] + points[lower[4]]) / 2, unit)
        socket = brightness(source, points[upper[4]] - (0, 0.1 * unit), unit)
        assert 0.75 * socket < lid < 1.2 * socket, (lid, socket)


def low_brows(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Brows that sit on the eyes: dark hair from just above each upper lid, 0.15 of the eyes'
    distance tall (as on a real photo of a man whose brows touch his upper lids)."""
    unit = inter_ocular(points)
    hair = np.zeros(image.shape[:2], np.float32)
    for upper, _ in EYES:
        edge = points[upper] - (0, 0.03 * unit)
        cv2.fillPoly(hair, [np.round(np.concatenate([edge, (edge - (0, 0.15 * unit))[::-1]])).astype(np.int32)], 1.0)
    hair = cv2.GaussianBlur(hair, (0, 0), 0.015 * unit)[..., None]
    return np.clip(image * (1 - hair) + np.array([40, 42, 48], np.float32) * hair, 0, 255).astype(np.uint8)


def test_a_brow_on_the_eye_stays_and_the_lid_is_skin(avatars, detector, engine, tmp_path):
    """The shut lid is made of the skin above the eye; where a brow sits right on the eye there is
    none to see, and the lid was the brow's hair: a dark patch over each eye (on the real photo that
    showed it, 0.34 of the brightness of the skin under the eye; here 0.24, now 0.9). Now what is not
    skin is filled from the skin all around the eye (a brow up to 0.2 of the eyes' distance tall), and
    the brow stays where it is as the lid comes down under it."""
    astronaut = avatars["astronaut"]
    shut, source, points, unit = shut_eyes(low_brows(astronaut.frames[0], astronaut.landmarks[0]), detector,
                                           engine, tmp_path)
    for upper, lower in EYES:
        under = brightness(source, points[lower[4]] + (0, 0.15 * unit), unit)
        lid = brightness(shut, (points[upper[4]] + points[lower[4]]) / 2, unit)
        brow = brightness(shut, points[upper[4]] - (0, 0.12 * unit), unit)
        print(f"lid {lid / under:.2f}, brow {brow / under:.2f} of the skin under the eye")
        assert lid > 0.7 * under, (lid, under)
        assert brow < 0.4 * under, (brow, under)


def violet_irises(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The irises painted a deep violet, darker than the lashes (as on a recoloured photo from outside)."""
    out = image.copy()
    out[visible_irises(image.shape, points) > 0] = (95, 15, 75)  # BGR: a luma of 37, very blue and red
    return out


def shut_lashes_blueness(image: np.ndarray, detector, engine, tmp_path) -> list[float]:
    """Per eye of `image` shut, how much bluer than green its darkest pixels (the lashes) are."""
    shut, points = shut_frame(image, detector, engine, tmp_path)
    unit = inter_ocular(points)
    out = []
    for upper, lower in EYES:
        x, y = np.round((points[upper[4]] + points[lower[4]]) / 2).astype(int)
        r = int(0.35 * unit)
        box = shut[y - r // 2 : y + r // 2, x - r : x + r].reshape(-1, 3)
        luma = box @ LUMA_BGR.astype(np.float32)
        darkest = box[luma <= np.percentile(luma, 5)].mean(0)
        out.append(float(darkest[0] - darkest[1]))
    return out


def test_irises_darker_than_the_lashes_shut_under_lashes_of_their_own_colour(avatars, detector, engine, tmp_path):
    """The shut lashes take the colour of the darkest pixels along the open lid. Irises recoloured
    violet, darker than the lashes, shut into a violet line (on the astronaut, 31-36 grey levels
    bluer than green; her own lashes are 22 less blue than green). Darkness alone no longer decides:
    lashes are grey or brown, an iris is coloured."""
    astronaut = avatars["astronaut"]
    plain = shut_lashes_blueness(astronaut.frames[0], detector, engine, tmp_path)
    violet = shut_lashes_blueness(violet_irises(astronaut.frames[0], astronaut.landmarks[0]), detector, engine,
                                  tmp_path)
    print(f"shut lashes, blue over green: plain {plain}, violet irises {violet}")
    for own, recoloured in zip(plain, violet):
        assert recoloured < own + 15, (recoloured, own)
