"""The `livehuman` command from a user's side: real files in, MP4s out, one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def livehuman(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livehuman.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("livehuman: error:"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb", "-w", str(path), "Good morning. Maybe we can meet at the bank."], check=True)
    return path


def streams(path: Path) -> tuple[float, float, int, tuple[int, int]]:
    """Video duration, audio duration, frame count and frame size of an MP4."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        frames = [f for f in container.decode(video)]
        fps = float(video.average_rate)
        container.seek(0)
        samples = sum(f.samples for f in container.decode(audio))
        return len(frames) / fps, samples / audio.rate, len(frames), (frames[0].width, frames[0].height)


@pytest.mark.slow
def test_text_render_with_the_default_face(tmp_path):
    out = tmp_path / "hello.mp4"
    result = livehuman("render", "--text", "Hello! My name is Ava.", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "mouth from phones" in result.stdout
    video_s, audio_s, frames, size = streams(out)
    assert size == (512, 512)
    assert abs(video_s - audio_s) < 0.05  # the same duration: audio exactly aligned to the video
    assert frames > 25


@pytest.mark.slow
def test_text_in_a_script_that_says_its_language_is_spoken_in_it(tmp_path):
    text = "こんにちは、元気ですか"  # the English voice would read each kanji as "Chinese letter"
    guessed = livehuman("render", "--text", text, "-o", str(tmp_path / "guessed.mp4"))
    told = livehuman("render", "--text", text, "--lang", "ja", "-o", str(tmp_path / "told.mp4"))
    assert guessed.returncode == 0 and told.returncode == 0, guessed.stderr + told.stderr
    assert "looks Japanese" in guessed.stderr and "looks" not in told.stderr
    assert streams(tmp_path / "guessed.mp4")[2] == streams(tmp_path / "told.mp4")[2]


@pytest.mark.slow
def test_render_answers_from_a_knowledge_file(tmp_path):
    faq = tmp_path / "faq.yaml"
    faq.write_text("- q: When does the shop open?\n  a: We open at nine every morning, Monday to Saturday.\n")
    out = tmp_path / "answer.mp4"
    result = livehuman("render", "--knowledge", str(faq), "--text", "When does the shop open?", "-o", str(out))
    assert result.returncode == 0, result.stderr
    video_s, audio_s, frames, size = streams(out)
    # The answer is rendered, not the question: about three seconds of speech against one and a half.
    assert audio_s > 2.5 and abs(video_s - audio_s) < 0.05, (video_s, audio_s)
    missing = livehuman("render", "--knowledge", str(tmp_path / "nope.yaml"), "--text", "Hi", "-o", str(tmp_path / "x.mp4"))
    assert_one_line_error(missing, "knowledge file not found", "nope.yaml")
    assert not (tmp_path / "x.mp4").exists() and not list(tmp_path.glob(".x*"))


@pytest.mark.slow
def test_prepare_then_render_audio_by_name(tmp_path, grace_hopper_path, astronaut_path, speech_wav):
    prepared = livehuman("prepare", "--name", "grace", "--source", str(grace_hopper_path))
    assert prepared.returncode == 0, prepared.stderr
    out = tmp_path / "grace.mp4"
    result = livehuman("render", "--avatar", "grace", "--audio", str(speech_wav), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "mouth from audio, heard as a synthetic voice (guessed)" in result.stdout  # espeak-ng's
    video_s, audio_s, _, size = streams(out)
    assert size == (512, 600)  # the source's whole frame at its resolution
    with av.open(str(speech_wav)) as c:
        speech_s = c.streams.audio[0].duration * float(c.streams.audio[0].time_base)
    # the video covers the whole speech, up to the end of its last frame, and the audio lasts as long
    assert speech_s <= video_s <= speech_s + 1 / 25 + 1e-3
    assert abs(video_s - audio_s) < 0.05
    # The same name from another photo replaces it, and says so (the name "default" included).
    again = livehuman("prepare", "--name", "grace", "--source", str(astronaut_path))
    assert again.returncode == 0 and f"replaces the avatar 'grace', made from {grace_hopper_path.resolve()}" in again.stdout


def test_render_hears_a_persons_recording_as_a_person_unless_told(tmp_path):
    from livehuman.speech.audio import save_wav
    from livehuman.speech.festival import festival_speech

    wav = tmp_path / "person.wav"  # festival's diphone voice: a person's recordings joined
    save_wav(wav, festival_speech("Maybe Bob will pay a bit more for the big blue map.", "kal").audio)
    guessed = livehuman("render", "--audio", str(wav), "--no-head-motion", "-o", str(tmp_path / "a.mp4"))
    assert guessed.returncode == 0, guessed.stderr
    assert "mouth from audio, heard as a natural voice (guessed)" in guessed.stdout
    told = livehuman("render", "--audio", str(wav), "--voice-kind", "synthetic", "-o", str(tmp_path / "b.mp4"))
    assert told.returncode == 0, told.stderr
    assert "heard as a synthetic voice)" in told.stdout


@pytest.mark.slow
def test_config_batch_renders_every_task(tmp_path, grace_hopper_path, astronaut_path, speech_wav):
    (tmp_path / "tasks.yaml").write_text(
        f"task_0: {{video_path: {grace_hopper_path}, audio_path: {speech_wav}, result_name: one.mp4}}\n"
        f"task_1: {{video_path: {astronaut_path}, audio_path: {speech_wav}, bbox_shift: 5}}\n"
    )
    result = livehuman("render", "--config", str(tmp_path / "tasks.yaml"), "--result-dir", str(tmp_path / "results"),
                       "--voice-kind", "natural")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("heard as a natural voice") == 2
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["astronaut_hello.mp4", "one.mp4"]


def test_missing_audio(tmp_path):
    out = tmp_path / "x.mp4"
    assert_one_line_error(livehuman("render", "--audio", str(tmp_path / "nope.wav"), "-o", str(out)), "nope.wav")
    assert not out.exists()


def test_not_a_media_file(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my notes, not audio")
    out = tmp_path / "x.mp4"
    assert_one_line_error(livehuman("render", "--audio", str(fake), "-o", str(out)), "notes.wav")
    assert list(tmp_path.iterdir()) == [fake]


def test_silent_audio(tmp_path):
    silent = tmp_path / "silent.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silent), "trim", "0", "2"], check=True)
    assert_one_line_error(livehuman("render", "--audio", str(silent), "-o", str(tmp_path / "x.mp4")), "silent")


def test_empty_text(tmp_path):
    assert_one_line_error(livehuman("render", "--text", "  ", "-o", str(tmp_path / "x.mp4")))


def test_photo_without_a_face(tmp_path, astronaut_path, speech_wav):
    coffee = astronaut_path.parent / "coffee.png"  # a real photo of a cup: no face in it
    assert_one_line_error(livehuman("render", "--avatar", str(coffee), "--audio", str(speech_wav), "-o", str(tmp_path / "x.mp4")), "face")
    assert not (tmp_path / "x.mp4").exists()


def test_face_too_small(tmp_path, grace_hopper_path):
    small = tmp_path / "small.png"
    image = cv2.imread(str(grace_hopper_path))
    cv2.imwrite(str(small), cv2.resize(image, (77, 90), interpolation=cv2.INTER_AREA))
    result = livehuman("prepare", "--name", "tiny", "--source", str(small))
    assert_one_line_error(result)
    assert "small" in result.stderr or "no face" in result.stderr


def test_video_with_no_frames(tmp_path, speech_wav):
    audio_only = tmp_path / "audio_only.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(speech_wav), "-c:a", "aac", str(audio_only)], check=True)
    assert_one_line_error(livehuman("prepare", "--name", "nothing", "--source", str(audio_only)), "audio_only.mp4")


def test_unknown_avatar_and_voice(tmp_path):
    assert_one_line_error(livehuman("render", "--avatar", "nobody-by-this-name", "--text", "hi", "-o", str(tmp_path / "x.mp4")), "nobody-by-this-name")
    assert_one_line_error(livehuman("render", "--voice", "klingon-xx", "--text", "hi", "-o", str(tmp_path / "x.mp4")), "klingon-xx")


def test_help_lists_every_command():
    result = livehuman("--help")
    assert result.returncode == 0
    for command in ("prepare", "render", "serve", "bench"):
        assert command in result.stdout


@pytest.mark.slow
def test_video_avatar_at_another_frame_rate_plays_its_footage(tmp_path, speech_wav):
    from livehuman.avatar.default import make_face_video

    video = make_face_video(tmp_path / "face30.mp4", seconds=1.2, fps=30)  # a real face, moving slightly
    out = tmp_path / "video.mp4"
    result = livehuman("render", "--avatar", str(video), "--audio", str(speech_wav), "--no-head-motion", "-o", str(out))
    assert result.returncode == 0, result.stderr
    video_s, audio_s, frames, size = streams(out)
    assert size == (512, 512) and abs(video_s - audio_s) < 0.05
    with av.open(str(out)) as container:
        pictures = [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]
    # The footage (30 frames at 25 fps) loops forward and back under the speech: the upper face,
    # untouched by the mouth, moves between frames, and frame 30 returns to frame 28's picture.
    top = [p[:200] for p in pictures]
    assert np.abs(top[1] - top[0]).mean() > 0.5
    assert np.abs(top[30] - top[28]).mean() < np.abs(top[30] - top[0]).mean()


@pytest.mark.slow
def test_a_failing_task_does_not_stop_the_others(tmp_path, grace_hopper_path, speech_wav):
    (tmp_path / "tasks.yaml").write_text(
        f"task_0: {{video_path: {grace_hopper_path}, audio_path: missing.wav}}\n"
        f"task_1: {{video_path: {grace_hopper_path}, audio_path: {speech_wav}, result_name: good.mp4}}\n"
    )
    result = livehuman("render", "--config", str(tmp_path / "tasks.yaml"), "--result-dir", str(tmp_path / "results"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "task_0 failed" in result.stderr and "missing.wav" in result.stderr
    assert "1 of 2 tasks failed (task_0)" in result.stderr
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["good.mp4"]


def test_render_numbers_no_render_can_use_are_one_line_each(tmp_path):
    for option, value in (("--fps", "0"), ("--fps", "-5"), ("--fps", "nan"), ("--fps", "10000"), ("--seed", "-1")):
        assert_one_line_error(livehuman("render", "--text", "Hi", option, value, "-o", str(tmp_path / "x.mp4")), option)
    assert not (tmp_path / "x.mp4").exists()


def test_a_render_never_writes_over_its_own_input(tmp_path, speech_wav):
    video = tmp_path / "me.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=gray:size=64x64:duration=1",
                    str(video)], check=True)
    before = video.read_bytes()
    assert_one_line_error(livehuman("render", "--avatar", str(video), "--audio", str(speech_wav), "-o", str(video)),
                          "one of the render's inputs")
    assert video.read_bytes() == before


def test_a_stopped_render_leaves_no_unfinished_file(tmp_path):
    """SIGTERM (`timeout`, a service manager) stops a render as Ctrl+C does."""
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "livehuman.cli", "render", "--text", "Hello there. " * 40,
                             "-o", str(out)], stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # until the unfinished file exists: the render is under way
        if any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    # the message has a line of its own, after the progress bar's last (a terminal wiped it with the bar)
    assert [line for line in re.split(r"[\r\n]", err) if line.strip()][-1] == "livehuman: interrupted"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_serve_with_bad_numbers_says_which_option():
    assert_one_line_error(livehuman("serve", "--render-workers", "-1", "--port", "0"), "--render-workers")
    assert_one_line_error(livehuman("serve", "--max-sessions", "0", "--port", "0"), "--max-sessions")
    assert_one_line_error(livehuman("serve", "--engine", "musetalk", "--render-workers", "2", "--port", "0"),
                          "--render-workers", "cpu engine")


@pytest.mark.slow
def test_musetalk_options_with_the_cpu_engine_say_so(tmp_path):
    out = tmp_path / "x.mp4"
    assert_one_line_error(livehuman("render", "--text", "Hello.", "--dtype", "float16", "-o", str(out)),
                          "--dtype", "musetalk")
    assert not out.exists()


def start_serve(port: int, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livehuman.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def stop_serve(proc: subprocess.Popen) -> str:
    """SIGTERM it, as a service manager or `docker stop` would; returns what it printed on stderr."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err  # 130: stopped before it began serving ("interrupted")
    assert "Traceback" not in err
    # The render workers' shared memory was freed by the server, not left to Python's resource tracker.
    assert "leaked" not in err, err
    return err


@pytest.mark.slow
def test_serve_serves_the_page_and_stops_cleanly_on_sigterm():
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_serve(port)
    try:
        assert "warming up" in proc.stdout.readline()
        # The address is printed once the server answers: not a moment before.
        assert f"open http://127.0.0.1:{port}/" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert json.loads(response.read())["ok"] is True
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer /healthz"
                time.sleep(0.2)
        assert health["ok"] is True and health["sessions"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "livehuman" in response.read().decode()
        children = children_of(proc.pid)
        assert len(children) >= 2  # its render workers and its recognizers' processes
        stop_serve(proc)
        # None outlives it. Some end just after it, on their own: multiprocessing's resource tracker
        # exits when serve's end of its pipe closes, which a loaded machine may take a moment to run.
        deadline = time.monotonic() + 10
        while [pid for pid in children if running(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [pid for pid in children if running(pid)]
        assert not alive, [command_of(pid) for pid in alive]
    finally:
        if proc.poll() is None:
            stop_serve(proc)
        proc.kill()


def running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie waits only to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_serve_stopped_while_it_warms_up_frees_its_workers():
    proc = start_serve(0)
    try:
        # This line comes once the render workers run, just before the models warm up.
        assert "warming up" in proc.stdout.readline()
        time.sleep(1.0)  # into the warm-up (seconds long), where aiohttp runs no shutdown handlers
        stop_serve(proc)
    finally:
        proc.kill()


def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    result = livehuman("render", "--text", "Hello there.", "-o", str(folder))
    assert_one_line_error(result, str(folder), "is a folder")
    assert sorted(p.name for p in folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no .partial file beside it
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = livehuman("render", "--text", "Hello there.", "-o", str(blocker / "out.mp4"))
    assert_one_line_error(result, "cannot create the folder", str(blocker))
    result = livehuman("render", "--config", str(tmp_path / "missing.yaml"), "--result-dir", str(blocker))
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_serve_on_a_port_in_use_says_so_before_loading_anything():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = livehuman("serve", "--host", "127.0.0.1", "--port", str(port))
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is in use", "--port")
    assert result.stdout == ""  # nothing was started, nothing announced


def test_serve_beyond_this_machine_without_a_token_refuses_in_one_line():
    env = {key: value for key, value in os.environ.items() if key != "LIVEHUMAN_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "livehuman.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(result, "needs an access token", "--token", "LIVEHUMAN_TOKEN", "--no-auth")
    assert result.stdout == ""  # nothing was started, nothing announced
    assert_one_line_error(livehuman("serve", "--port", "0", "--cors-origin", "*"), "'*'", "--token")
    assert_one_line_error(livehuman("serve", "--port", "0", "--cors-origin", "example.com"),
                          "'example.com' is not an origin", "https://example.com")
    assert_one_line_error(livehuman("serve", "--port", "0", "--token", "two words"), "access token", "no spaces")
    assert_one_line_error(livehuman("serve", "--port", "0", "--token", "abc", "--no-auth"), "--token and --no-auth")


def offer_status(port: int, **headers: str) -> int:
    """The status of a (deliberately not JSON) POST /offer: 401 before the token, 400 after it."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/offer", data=b"{", method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_answering(proc: subprocess.Popen, port: int) -> None:
    assert "warming up" in proc.stdout.readline()
    assert f":{port}/" in proc.stdout.readline(), proc.communicate()[1]  # "open http://…": it answers


def test_serve_takes_its_token_from_the_environment_or_runs_open_with_no_auth():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_serve(port, "--host", "0.0.0.0", env={"LIVEHUMAN_TOKEN": "from-the-env"})
    try:
        wait_answering(proc, port)
        assert offer_status(port) == 401
        assert offer_status(port, Authorization="Bearer wrong") == 401
        assert offer_status(port, Authorization="Bearer from-the-env") == 400
        stop_serve(proc)
    finally:
        proc.kill()
    # --no-auth: open to anyone, and the log says so.
    proc = start_serve(port, "--host", "0.0.0.0", "--no-auth", env={"LIVEHUMAN_TOKEN": "from-the-env"})
    try:
        wait_answering(proc, port)
        assert offer_status(port) == 400
        assert "without an access token (--no-auth)" in stop_serve(proc)
    finally:
        proc.kill()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with `cryptography` (aiortc's own dependency)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_serve_speaks_https_with_a_certificate(tmp_path):
    import socket
    import ssl
    import urllib.request

    cert, key = self_signed(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_serve(port, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert "warming up" in proc.stdout.readline()
        assert f"open https://127.0.0.1:{port}/" in proc.stdout.readline()
        trusted = ssl.create_default_context(cafile=str(cert))  # the certificate really is the one served
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=5, context=trusted) as response:
            assert json.loads(response.read())["ok"] is True
        with pytest.raises(OSError):  # and plain http is not answered
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
        stop_serve(proc)
    finally:
        proc.kill()


def test_serve_with_a_bad_certificate_says_so_in_one_line(tmp_path):
    cert, key = self_signed(tmp_path)
    assert_one_line_error(livehuman("serve", "--tls-cert", str(tmp_path / "none.pem")), "none.pem", "no such file")
    assert_one_line_error(livehuman("serve", "--tls-cert", str(key), "--tls-key", str(key)), "TLS certificate")
    assert_one_line_error(livehuman("serve", "--tls-key", str(key)), "--tls-key needs --tls-cert")


def test_serve_refuses_an_unknown_voice_as_render_does():
    result = livehuman("serve", "--voice", "xx-bad", "--port", "1")
    assert_one_line_error(result, "unknown espeak-ng voice 'xx-bad'", "livehuman voices")


def test_voices_shows_language_names_and_filters_by_language():
    every = livehuman("voices")
    assert every.returncode == 0
    lines = every.stdout.splitlines()
    assert any(line.split()[0] == "en-us" and "English (America)" in line for line in lines)
    chinese = livehuman("voices", "--lang", "zh").stdout.splitlines()
    assert chinese and all("Chinese" in line for line in chinese)
    assert any(line.split()[0] == "cmn" for line in chinese)
    assert len(chinese) < len(lines)
    assert_one_line_error(livehuman("voices", "--lang", "xx"), "no voice speaks 'xx'")


@pytest.mark.slow
@pytest.mark.parametrize("lang, text", [("zh", "你好，欢迎来到书店。"), ("ja", "こんにちは、今日はいい天気です。")])
def test_render_in_chinese_and_japanese_picks_the_voice_by_lang(tmp_path, lang, text):
    out = tmp_path / f"{lang}.mp4"
    result = livehuman("render", "--text", text, "--lang", lang, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "mouth from phones" in result.stdout
    video_s, audio_s, frames, _ = streams(out)
    assert abs(video_s - audio_s) < 0.05 and frames > 25
    # The same text with the English voice spells it out or says nothing like it: another length.
    english = tmp_path / "en.mp4"
    assert livehuman("render", "--text", text, "--lang", "en", "-o", str(english)).returncode == 0
    assert abs(streams(english)[1] - audio_s) > 0.3


def test_unknown_language_is_refused_in_one_line(tmp_path):
    assert_one_line_error(livehuman("render", "--lang", "klingon", "--text", "hi", "-o", str(tmp_path / "x.mp4")), "'klingon'", "livehuman voices")
    assert_one_line_error(livehuman("serve", "--lang", "klingon", "--port", "1"), "'klingon'")
