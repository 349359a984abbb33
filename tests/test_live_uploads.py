"""Avatars made in the page: `POST /avatars` checks an upload by its content, prepares it, and an
offer naming it talks with that face (live/uploads.py, avatar/upload.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from livehuman.avatar.upload import UploadLimits
from livehuman.live.access import Access
from livehuman.live.server import LiveConfig, LiveServer
from livehuman.live.uploads import Uploads

pytestmark = pytest.mark.asyncio(loop_scope="module")


def snapshot(root: Path) -> dict:
    """Every file under `root` (the avatars folder) with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def http_server(root: Path, limits: UploadLimits = UploadLimits(), access: Access = Access()) -> LiveServer:
    """A LiveServer for HTTP only (no offer is answered): its uploads go to `root`."""
    nothing = lambda *a, **k: None  # noqa: E731
    live = LiveServer(LiveConfig(brain_factory=nothing, engine_factory=nothing, avatar=None,
                                 lipsync_factory=nothing, idle_factory=nothing, access=access, uploads=limits))
    live.uploads = Uploads(limits, root=root)
    return live


async def client_for(live: LiveServer) -> TestClient:
    client = TestClient(TestServer(live.app(), host="127.0.0.1"))
    await client.start_server()
    return client


async def until_done(client: TestClient, name: str, headers: dict | None = None, timeout: float = 120) -> list[dict]:
    """Every report of the upload's preparation until it is ready or failed."""
    reports = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        response = await client.get(f"/avatars/{name}", headers=headers)
        assert response.status == 200, await response.text()
        reports.append(await response.json())
        if reports[-1]["state"] != "preparing":
            return reports
        await asyncio.sleep(0.1)
    raise AssertionError(f"upload {name} still preparing after {timeout} s: {reports[-1]}")


@pytest_asyncio.fixture(loop_scope="module")
async def uploads(tmp_path):
    live = http_server(tmp_path / "avatars")
    client = await client_for(live)
    yield live, client, tmp_path / "avatars"
    await client.close()


async def test_a_photo_uploads_is_prepared_under_a_generated_name_and_reports_progress(uploads, astronaut_path):
    live, client, root = uploads
    response = await client.post("/avatars", data=astronaut_path.read_bytes(), headers={"Content-Type": "image/png"})
    assert response.status == 202, await response.text()
    answer = await response.json()
    name = answer["name"]
    assert re.fullmatch(r"upload-[0-9a-f]{12}", name) and answer["status"] == f"/avatars/{name}"
    reports = await until_done(client, name)
    assert reports[-1]["state"] == "ready" and reports[-1]["progress"] == 1.0, reports[-1]
    assert reports[-1]["frames_done"] == reports[-1]["frames_total"] == 1
    assert (root / name / "meta.json").is_file()
    # The source is kept under its generated name, with the suffix its content calls for; the
    # sender's file name appears nowhere.
    assert [p.name for p in (root / ".uploads").iterdir()] == [f"{name}.png"]
    assert not any("astronaut" in p.name for p in root.rglob("*"))
    # The avatar is the photo: same pixels, a face where the face is.
    from livehuman.avatar.store import read_avatar

    avatar = read_avatar(root / name)
    np.testing.assert_array_equal(avatar.frames[0], cv2.imread(str(astronaut_path)))
    # The same upload sent as a form's file works too, under another name.
    form = FormData()
    form.add_field("file", astronaut_path.read_bytes(), filename="../../etc/passwd.png", content_type="image/png")
    response = await client.post("/avatars", data=form)
    assert response.status == 202, await response.text()
    other = (await response.json())["name"]
    assert other != name and (await until_done(client, other))[-1]["state"] == "ready"
    assert not any("passwd" in p.name for p in root.rglob("*"))
    # Faces for sessions are made once and reused.
    from livehuman.live.server import FaceParts

    base = FaceParts(None, None, lambda: "lipsync", lambda: "idle")
    first, again = live.uploads.face(name, base), live.uploads.face(name, base)
    assert first.engine_factory() is again.engine_factory() and first.avatar is again.avatar
    assert first.avatar.name == name and first.lipsync_factory() == "lipsync"


async def test_a_video_uploads_and_its_progress_counts_frames(uploads, grace_hopper_path, tmp_path):
    from livehuman.avatar.default import make_face_video

    live, client, root = uploads
    video = make_face_video(tmp_path / "face.mp4", seconds=2.0, source_image=str(grace_hopper_path))
    response = await client.post("/avatars", data=Path(video).read_bytes(), headers={"Content-Type": "video/mp4"})
    assert response.status == 202, await response.text()
    answer = await response.json()
    assert answer["kind"] == "video"
    reports = await until_done(client, answer["name"])
    assert reports[-1]["state"] == "ready", reports[-1]
    assert reports[-1]["frames_total"] == 50
    assert all(0 <= r["progress"] <= 1 for r in reports)
    assert [r["progress"] for r in reports] == sorted(r["progress"] for r in reports)


def blank_png(path: Path) -> bytes:
    ok, data = cv2.imencode(".png", np.full((400, 400, 3), (90, 140, 200), np.uint8))
    return data.tobytes()


@pytest.mark.parametrize("case", ["text", "no_face", "oversized", "too_long", "gif", "empty"])
async def test_a_bad_upload_gets_one_clear_4xx_and_changes_nothing(case, grace_hopper_path, tmp_path):
    from livehuman.avatar.default import make_face_video

    root = tmp_path / "avatars"
    limits = UploadLimits(photo_bytes=200_000, video_bytes=400_000, video_seconds=1.0)
    live = http_server(root, limits)
    client = await client_for(live)
    try:
        # An avatar already uploaded: none of the refusals below may touch it.
        response = await client.post("/avatars", data=grace_hopper_path.read_bytes(), headers={"Content-Type": "image/jpeg"})
        assert response.status == 202, await response.text()
        assert (await until_done(client, (await response.json())["name"]))[-1]["state"] == "ready"
        before = snapshot(root)
        if case == "text":
            body, expected, words = b"#!/bin/sh\nrm -rf /\n" * 50, 415, "not a photo or a video"
        elif case == "no_face":
            body, expected, words = blank_png(tmp_path / "blank.png"), 422, "no face found in the photo"
        elif case == "oversized":
            body, expected, words = np.random.default_rng(0).bytes(500_000), 413, "too large"
        elif case == "too_long":
            video = make_face_video(tmp_path / "long.mp4", seconds=2.0, source_image=str(grace_hopper_path), crf=40)
            body, expected, words = Path(video).read_bytes(), 413, "videos may be at most 1 s"
        elif case == "gif":
            import imageio.v3 as iio

            gif = tmp_path / "face.gif"
            iio.imwrite(gif, cv2.imread(str(grace_hopper_path))[:, :, ::-1])
            body, expected, words = gif.read_bytes(), 415, "GIF images are not taken"
        else:
            body, expected, words = b"", 400, "the upload is empty"
        response = await client.post("/avatars", data=body, headers={"Content-Type": "image/png"})
        answer = await response.json()
        assert response.status == expected, answer
        assert set(answer) == {"error"} and words in answer["error"], answer
        assert snapshot(root) == before
        # The preparer is free again: the next upload is taken.
        response = await client.post("/avatars", data=b"not an image", headers={"Content-Type": "image/png"})
        assert response.status == 415
    finally:
        await client.close()


async def test_one_upload_at_a_time_and_the_oldest_are_removed(grace_hopper_path, tmp_path):
    root = tmp_path / "avatars"
    live = http_server(root, UploadLimits(max_kept=2))
    client = await client_for(live)
    try:
        names = []
        for _ in range(3):
            response = await client.post("/avatars", data=grace_hopper_path.read_bytes(),
                                         headers={"Content-Type": "image/jpeg"})
            assert response.status == 202
            name = (await response.json())["name"]
            # While it is prepared, another upload is refused with a clear message.
            if live.uploads.jobs[name].state == "preparing":
                busy = await client.post("/avatars", data=grace_hopper_path.read_bytes(),
                                         headers={"Content-Type": "image/jpeg"})
                if busy.status == 202:  # the first was ready just before: this one is an upload like any
                    assert (await until_done(client, name))[-1]["state"] == "ready"
                    names.append(name)
                    name = (await busy.json())["name"]
                else:
                    assert busy.status == 429 and "another avatar is being prepared" in (await busy.json())["error"]
                    assert busy.headers["Retry-After"]
            assert (await until_done(client, name))[-1]["state"] == "ready"
            names.append(name)
        kept = sorted(p.name for p in live.uploads.uploaded())
        assert kept == sorted(names[-2:])
        assert sorted(p.name for p in (root / ".uploads").iterdir()) == sorted(f"{n}.jpg" for n in names[-2:])
        for removed in names[:-2]:
            assert (await client.get(f"/avatars/{removed}")).status == 404
    finally:
        await client.close()


async def test_busy_preparer_answers_429(tmp_path, grace_hopper_path):
    live = http_server(tmp_path / "avatars")
    client = await client_for(live)
    try:
        live.uploads._busy = "receiving"  # another upload is arriving
        response = await client.post("/avatars", data=grace_hopper_path.read_bytes(), headers={"Content-Type": "image/jpeg"})
        assert response.status == 429
        assert "another upload is being received" in (await response.json())["error"]
        assert snapshot(tmp_path / "avatars") == {}
    finally:
        await client.close()


async def test_a_stalled_upload_gives_its_place_back(tmp_path, grace_hopper_path):
    """An upload that stops sending (its client stuck or gone) is given up on after `stall_s`, and
    the one place for uploads is free again: it used to be held until the server restarted."""
    live = http_server(tmp_path / "avatars", UploadLimits(stall_s=0.5))
    client = await client_for(live)
    try:
        host, port = client.server.host, client.server.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST /avatars HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/jpeg\r\n"
                     f"Content-Length: 100000\r\n\r\n".encode() + grace_hopper_path.read_bytes()[:1000])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 10)
        assert b" 408 " in answer.split(b"\r\n")[0] and b"stalled" in answer, answer
        writer.close()
        response = await client.post("/avatars", data=grace_hopper_path.read_bytes(), headers={"Content-Type": "image/jpeg"})
        assert response.status == 202, await response.text()
        await until_done(client, (await response.json())["name"])
        assert not [p for p in (tmp_path / "avatars").rglob(".incoming-*")]  # the stalled bytes are gone
    finally:
        await client.close()


async def test_uploads_need_the_token_when_one_is_set(tmp_path, grace_hopper_path):
    root = tmp_path / "avatars"
    live = http_server(root, access=Access(token="s3cret-token"))
    client = await client_for(live)
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await client.post("/avatars", data=grace_hopper_path.read_bytes(),
                                         headers={"Content-Type": "image/jpeg", **headers})
            assert response.status == 401
            assert (await client.get("/avatars/upload-000000000000", headers=headers)).status == 401
        assert snapshot(root) == {}
        # Another site's page may not upload, even with the token.
        response = await client.post("/avatars", data=b"x", headers={
            "Content-Type": "image/jpeg", "Authorization": "Bearer s3cret-token", "Origin": "https://evil.example"})
        assert response.status == 403
        good = {"Authorization": "Bearer s3cret-token"}
        response = await client.post("/avatars", data=grace_hopper_path.read_bytes(),
                                     headers={"Content-Type": "image/jpeg", **good})
        assert response.status == 202
        name = (await response.json())["name"]
        assert (await until_done(client, name, headers=good))[-1]["state"] == "ready"
    finally:
        await client.close()


async def test_an_offer_naming_an_unknown_or_unsafe_avatar_is_refused(tmp_path):
    live = http_server(tmp_path / "avatars")
    client = await client_for(live)
    sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    try:
        for avatar in ("../../etc", "/etc/passwd", "default", "upload-000000000000", 7):
            response = await client.post("/offer", json={"sdp": sdp, "type": "offer", "avatar": avatar})
            assert response.status == 400
            error = (await response.json())["error"]
            assert "avatar" in error, error
        assert not live.sessions
    finally:
        await client.close()


# -- a live session with an uploaded face (WebRTC: inside the test's network namespace) -------------

async def test_an_offer_with_an_uploaded_photo_shows_that_face(netns, astronaut_path, test_output):
    import aiohttp

    from helpers_live import start_live_server, wait_sessions
    from livehuman.live.client import LiveClient

    live, runner = await start_live_server(netns.addresses[0], max_sessions=2)
    clients = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{live.url}/avatars", data=astronaut_path.read_bytes(),
                                 headers={"Content-Type": "image/png"}) as response:
                assert response.status == 202, await response.text()
                name = (await response.json())["name"]
            for _ in range(1200):
                async with http.get(f"{live.url}/avatars/{name}") as response:
                    report = await response.json()
                if report["state"] != "preparing":
                    break
                await asyncio.sleep(0.1)
        assert report["state"] == "ready", report
        source = cv2.imread(str(astronaut_path))
        default = live.config.avatar.frames[0]
        for _ in range(2):  # the second session reuses the face the first one loaded
            client = LiveClient(live.url, record_video=True, avatar=name)
            clients.append(client)
            await client.connect()
            await client.wait_for(lambda: len(client.received.video) >= 25, timeout=60)
            frame = client.received.video[-1][1].to_ndarray(format="bgr24")
            assert frame.shape == source.shape
            to_upload = float(np.abs(frame.astype(np.int16) - source).mean())
            to_default = float(np.abs(frame.astype(np.int16) - default).mean())
            # The video is the uploaded photo (VP8 and idle motion aside), not the default face.
            assert to_upload < 12 and to_upload < 0.3 * to_default, (to_upload, to_default)
            await client.close()
        cv2.imwrite(str(test_output / "upload-session.png"), np.hstack([source, frame]))
        assert list(live.uploads._faces) == [name]
        await wait_sessions(live, 0, timeout=20)
    finally:
        for client in clients:
            await client.close()
        await runner.cleanup()


async def test_a_server_without_uploads_refuses_them_and_hides_the_control(tmp_path):
    nothing = lambda *a, **k: None  # noqa: E731
    live = LiveServer(LiveConfig(brain_factory=nothing, engine_factory=nothing, avatar=None,
                                 lipsync_factory=nothing, idle_factory=nothing, uploads=None))
    client = await client_for(live)
    try:
        assert (await client.post("/avatars", data=b"x", headers={"Content-Type": "image/png"})).status == 404
        sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        response = await client.post("/offer", json={"sdp": sdp, "type": "offer", "avatar": "upload-000000000000"})
        assert response.status == 400 and "takes no uploaded avatars" in (await response.json())["error"]
        page = await (await client.get("/")).text()
        assert '<meta name="livehuman-uploads" content="off">' in page
    finally:
        await client.close()
    # With uploads (the default) the page keeps its control.
    client = await client_for(http_server(tmp_path / "avatars"))
    try:
        assert '<meta name="livehuman-uploads" content="on">' in await (await client.get("/")).text()
    finally:
        await client.close()


async def test_serve_options_set_the_upload_limits():
    from livehuman.cli import _upload_limits, build_parser
    from livehuman.errors import LivehumanError

    parser = build_parser()
    assert _upload_limits(parser.parse_args(["serve"])) == UploadLimits()
    limits = _upload_limits(parser.parse_args(["serve", "--upload-photo-mb", "2", "--upload-video-mb", "8",
                                               "--upload-video-seconds", "12", "--uploads-kept", "3"]))
    assert limits == UploadLimits(photo_bytes=2 << 20, video_bytes=8 << 20, video_seconds=12.0, max_kept=3)
    assert _upload_limits(parser.parse_args(["serve", "--no-uploads"])) is None
    with pytest.raises(LivehumanError, match="--uploads-kept must be more than 0"):
        _upload_limits(parser.parse_args(["serve", "--uploads-kept", "0"]))


async def test_a_video_beyond_the_frames_memory_is_cut_and_progress_counts_what_is_kept(grace_hopper_path, tmp_path):
    from livehuman.avatar.default import make_face_video
    from livehuman.avatar.store import read_avatar

    root = tmp_path / "avatars"
    frame = 512 * 600 * 3
    live = http_server(root, UploadLimits(frames_max_bytes=10 * frame))
    client = await client_for(live)
    try:
        video = make_face_video(tmp_path / "face.mp4", seconds=2.0, source_image=str(grace_hopper_path))
        response = await client.post("/avatars", data=Path(video).read_bytes(), headers={"Content-Type": "video/mp4"})
        assert response.status == 202, await response.text()
        name = (await response.json())["name"]
        report = (await until_done(client, name))[-1]
        assert report["state"] == "ready" and report["frames_total"] == report["frames_done"] == 10, report
        assert any("only the first 10 frames" in note for note in report["notes"]), report
        assert read_avatar(root / name).n_frames == 10
    finally:
        await client.close()
