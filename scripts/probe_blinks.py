#!/usr/bin/env python
"""How shut a rendered blink reads to mediapipe's face mesh, and how shut real shut eyes read (issue 15 probe).

Run from the repository root: `PYTHONPATH=src .venv/bin/python scripts/probe_blinks.py [VIDEO]` (a minute or
two; VIDEO defaults to ../shared/media/WDA_KatieHill_000.mp4).
The measure is tests/test_eyes.py's: the cpu engine at blink 0 and 1 (no head motion), the face mesh
re-detected on each frame, eye opening = lid gaps 159-145 and 386-374 over the inter-ocular distance.
Prints shut / open for the hard faces of bench/faces.py, then two checks of the mesh itself: dark
glasses' rims drawn over the astronaut's rendered frames, and, when ../shared/media holds the real
talking video, its deepest real blink, those shut eyes pasted onto other faces, and our blink on its
open frame, and both on that frame made smaller. See docs/benchmarks.md ("Blinks: the shut lid as skin",
and session 35 under it).
"""
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, "tests")  # the eye measure of the tests
from test_eyes import eye_opening  # noqa: E402
from livehuman.avatar.avatar import Avatar  # noqa: E402
from livehuman.avatar.default import default_portrait  # noqa: E402
from livehuman.avatar.landmarks import FaceMeshDetector, inter_ocular  # noqa: E402
from livehuman.bench.faces import ANIMATABLE, make_face  # noqa: E402
from livehuman.motion.controls import FaceControls  # noqa: E402
from livehuman.render.cpu.engine import CpuEngine  # noqa: E402
from livehuman.render.cpu.face import EYES  # noqa: E402
from livehuman.render.engine import FrameDrive  # noqa: E402

VIDEO = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/media/WDA_KatieHill_000.mp4")
det = FaceMeshDetector()


def opening(image, near=None):
    faces = det.detect_all(image, thorough=True)
    if not faces:
        return float("nan")
    # the face nearest the source's (a group photo has several)
    points = faces[0] if near is None else min(faces, key=lambda p: np.abs(p[[33, 263]] - near[[33, 263]]).sum())
    return eye_opening(points)


def blink(image, points, b):
    avatar = Avatar(name="probe", directory=Path("."), fps=25, kind="photo", frames=image[None],
                    landmarks=points[None],
                    boxes=np.concatenate([points.min(0), points.max(0)])[None].astype(np.float32))
    return CpuEngine(head_motion=False).render(avatar, 0, FrameDrive(FaceControls(blink=b)))


def rims(image, points, above, thick):
    """Dark arcs like glasses' top rims, `above` inter-ocular over each upper lid, `thick` thick."""
    out = image.copy()
    unit = inter_ocular(points)
    for upper, _ in EYES:
        p = points[upper] - (0, above * unit)
        p = p.mean(0) + (p - p.mean(0)) * 1.5
        cv2.polylines(out, [np.round(p).astype(np.int32)], False, (25, 20, 20), max(1, int(thick * unit)), cv2.LINE_AA)
    return out


def paste_eyes(image, points, donor, donor_points):
    """The donor's eyes placed on the image's (similarity on the eye corners), colour-matched, feathered."""
    out = image.copy()
    for a, b in ((33, 133), (263, 362)):
        s, d = donor_points[[a, b]].astype(np.float64), points[[a, b]].astype(np.float64)
        r = complex(*(d[1] - d[0])) / complex(*(s[1] - s[0]))
        m = np.array([[r.real, -r.imag], [r.imag, r.real]])
        affine = np.hstack([m, (d[0] - m @ s[0])[:, None]])
        warped = cv2.warpAffine(donor, affine, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR)
        width = float(np.linalg.norm(d[1] - d[0]))
        centre = d.mean(0)
        angle = float(np.degrees(np.arctan2(*(d[1] - d[0])[::-1])))
        mask = np.zeros(image.shape[:2], np.float32)
        cv2.ellipse(mask, (int(centre[0]), int(centre[1])), (int(0.62 * width), int(0.38 * width)), angle, 0, 360, 1, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.08 * width)[..., None]
        inside = mask[..., 0] > 0.5
        lab_w = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(np.float32)
        lab_o = cv2.cvtColor(out, cv2.COLOR_BGR2LAB).astype(np.float32)
        lab_w = (lab_w - lab_w[inside].mean(0)) / (lab_w[inside].std(0) + 1e-3) * lab_o[inside].std(0) + lab_o[inside].mean(0)
        matched = cv2.cvtColor(np.clip(lab_w, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
        out = np.clip(out + (matched - out) * mask, 0, 255).astype(np.uint8)
    return out


faces = {name: make_face(name) for name in ANIMATABLE}
faces["default portrait"] = default_portrait()
print("shut / open of a full blink, cpu engine")
for name, image in faces.items():
    points = det.detect(image, thorough=True).points
    o, s = (opening(blink(image, points, b), points) for b in (0.0, 1.0))
    print(f"  {name:18s} open {o:.3f} shut {s:.3f}  {s / o:.2f}")

astronaut = faces["astronaut"]
points = det.detect(astronaut).points
opened, shut = blink(astronaut, points, 0.0), blink(astronaut, points, 1.0)
print("the astronaut's rendered open and shut frames with dark rims drawn over them")
for above in (0.12, 0.16, 0.2, 0.25):
    for thick in (0.04, 0.07):
        o, s = opening(rims(opened, points, above, thick)), opening(rims(shut, points, above, thick))
        print(f"  rims {above:.2f} above, {thick:.2f} thick: {s / o:.2f}")

if not VIDEO.exists():
    print(f"{VIDEO} not found: the checks against a real blink are skipped")
    sys.exit(0)
import av  # noqa: E402

with av.open(str(VIDEO)) as container:
    frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
readings = np.array([opening(f) for f in frames])
open_frame = frames[int(np.argmin(np.abs(readings - np.median(readings))))]
shut_frame = frames[int(np.argmin(readings))]
print(f"the real video: median opening {np.median(readings):.3f}, deepest blink {readings.min():.3f} "
      f"({readings.min() / np.median(readings):.2f} of open)")
shut_points = det.detect(shut_frame).points
open_points = det.detect(open_frame).points
for name in ("default portrait", "astronaut"):
    image = faces[name]
    p = det.detect(image).points
    base = opening(image)
    print(f"  its shut eyes pasted onto {name}: {opening(paste_eyes(image, p, shut_frame, shut_points)) / base:.2f}"
          f" (its open eyes: {opening(paste_eyes(image, p, open_frame, open_points)) / base:.2f})")
o, s = (opening(blink(open_frame, open_points, b)) for b in (0.0, 1.0))
print(f"  our blink on its open frame: {s / o:.2f}")


def smaller(image, eyes_apart):
    """`image` scaled so that the face's eyes are `eyes_apart` px apart, on a grey canvas of 256 px or more."""
    small = cv2.resize(image, None, fx=eyes_apart / iod, fy=eyes_apart / iod, interpolation=cv2.INTER_AREA)
    canvas = np.full((max(256, small.shape[0] + 40), max(256, small.shape[1] + 40), 3), 128, np.uint8)
    y, x = (canvas.shape[0] - small.shape[0]) // 2, (canvas.shape[1] - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


iod = inter_ocular(open_points)
print("the real blink and ours on the video's frames made smaller (the mesh's precision on a small face)")
for eyes_apart in (80, 60, 47, 37, 30, 26):
    small_open, small_shut = smaller(open_frame, eyes_apart), smaller(shut_frame, eyes_apart)
    points = det.detect(small_open, thorough=True).points
    o, s = (opening(blink(small_open, points, b)) for b in (0.0, 1.0))
    print(f"  eyes {eyes_apart} px apart: the real shut eyes {opening(small_shut) / opening(small_open):.2f}, ours {s / o:.2f}")
