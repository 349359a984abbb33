"""The media clock: pairing, pacing without drift, barge-in and heard_ms."""

from __future__ import annotations

import numpy as np

from livehuman.live.clock import (
    PACKET_MS,
    SAMPLES_PER_FRAME,
    SAMPLES_PER_PACKET,
    VIDEO_PTS_STEP,
    MediaClock,
    MediaUnit,
)


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps (and oversleeps)."""

    def __init__(self, oversleep: float = 0.0):
        self.t = 1000.0
        self.oversleep = oversleep
        self.woke: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        self.t += max(delay, 0.0) + self.oversleep
        self.woke.append(self.t)


def frame(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def tone(k: int) -> np.ndarray:
    """A unit of audio whose samples carry the unit's number, so pairing can be checked."""
    return np.full(SAMPLES_PER_FRAME, 1000 + k, np.int16)


def drain(clock: MediaClock) -> tuple[list, list]:
    video, audio = [], []
    while not clock._video_out.empty():
        video.append(clock._video_out.get_nowait())
    while not clock._audio_out.empty():
        audio.append(clock._audio_out.get_nowait()[:2])  # (packet, pts), as the audio track gets them
    return video, audio


async def test_each_frame_is_paired_with_its_two_audio_packets():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    for k in range(1, 6):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="item_a", item_ms=40 * k))
    got_video, got_audio = [], []
    for _ in range(7):  # 7 frames: 5 queued, then idle
        await clock.run(ticks=2)
        video, audio = drain(clock)
        got_video += video
        got_audio += audio
    assert [int(f[0, 0, 0]) for f, _ in got_video] == [1, 2, 3, 4, 5, 0, 0]
    assert [pts for _, pts in got_video] == [k * VIDEO_PTS_STEP for k in range(7)]
    assert [pts for _, pts in got_audio] == [k * SAMPLES_PER_PACKET for k in range(14)]
    values = [int(a[0]) for a, _ in got_audio]
    assert values[:10] == [1001, 1001, 1002, 1002, 1003, 1003, 1004, 1004, 1005, 1005]
    assert values[10:] == [0, 0, 0, 0]  # idle frames come with silence
    assert all(len(a) == SAMPLES_PER_PACKET for a, _ in got_audio)
    assert clock.stats.speech_frames == 5 and clock.stats.idle_frames == 2


async def test_a_reply_starts_on_the_next_tick_not_after_the_idle_frames_second_half():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    await clock.run(ticks=3)  # two idle frames; the second has played only its first packet
    drain(clock)
    clock.push(MediaUnit(frame=frame(1), audio=tone(1), item_id="x", item_ms=40))
    clock.push(MediaUnit(frame=frame(2), audio=tone(2), item_id="x", item_ms=80, last=True))
    await clock.run(ticks=6)
    video, audio = drain(clock)
    # Frames now start on odd ticks: both tracks keep their timestamps from the tick.
    assert [(int(f[0, 0, 0]), pts) for f, pts in video] == [(1, 3 * 1800), (2, 5 * 1800), (0, 7 * 1800)]
    assert [(int(a[0]), pts) for a, pts in audio] == [
        (1001, 3 * SAMPLES_PER_PACKET), (1001, 4 * SAMPLES_PER_PACKET), (1002, 5 * SAMPLES_PER_PACKET),
        (1002, 6 * SAMPLES_PER_PACKET), (0, 7 * SAMPLES_PER_PACKET), (0, 8 * SAMPLES_PER_PACKET)]
    assert clock.heard_ms("x") == 80 and clock.stats.underruns == 0


async def test_pacing_does_not_drift_when_every_sleep_runs_late():
    fake = FakeTime(oversleep=0.004)  # every wake-up 4 ms late, as a busy event loop would
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    ticks = 10 * 60 * 50  # ten minutes of 20 ms packets
    await clock.run(ticks=ticks)
    start = clock.start_time
    lateness = [t - (start + (n + 1) * PACKET_MS / 1000) for n, t in enumerate(fake.woke)]
    # Sleeps happen only when a tick is early; the clock never falls further behind than one oversleep.
    assert max(lateness) <= 0.004 + 1e-9
    assert clock.tick == ticks
    assert abs(fake.t - (start + ticks * PACKET_MS / 1000)) < 0.03
    assert clock.stats.frames == ticks // 2
    # Accumulating sleeps would be 10 min * 50/s * 4 ms = 120 s behind by now.


async def test_a_stalled_loop_catches_up_on_schedule_instead_of_shifting():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    await clock.run(ticks=10)
    fake.t += 0.5  # the event loop was blocked for half a second
    await clock.run(ticks=100)
    assert clock.stats.late_ticks > 0
    assert abs(fake.t - (clock.start_time + 109 * PACKET_MS / 1000)) < 1e-6  # tick 109 ran on time


async def test_interrupt_drops_everything_queued_at_once():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    for k in range(1, 51):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="item_a", item_ms=40 * k))
    await clock.run(ticks=3)  # frame 1 fully, frame 2's first packet
    drain(clock)
    assert clock.busy
    dropped = clock.interrupt()
    assert dropped == 48
    assert not clock.busy
    await clock.run(ticks=5)
    video, audio = drain(clock)
    assert all(int(a[0]) == 0 for a, _ in audio)  # frame 2's second half is not played either
    assert all(int(f[0, 0, 0]) == 0 for f, _ in video)
    assert clock.heard_ms("item_a") == 60


async def test_a_barge_in_takes_back_packets_the_track_had_not_taken():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    for k in range(1, 11):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="item_c", item_ms=40 * k))
    await clock.run(ticks=5)  # five packets out of the clock; the audio track, busy, took two
    clock._audio_out.get_nowait()
    clock._audio_out.get_nowait()
    assert clock.heard_ms("item_c") == 100
    clock.interrupt()
    assert clock.heard_ms("item_c") == 40


async def test_heard_ms_counts_only_what_was_handed_out():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    assert clock.heard_ms("item_b") == 0
    for k in range(1, 11):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="item_b", item_ms=40 * k))
    await clock.run(ticks=7)
    assert clock.heard_ms("item_b") == 140
    await clock.run(ticks=13)
    assert clock.heard_ms("item_b") == 400
    await clock.run(ticks=10)  # idle after the reply: nothing more heard
    assert clock.heard_ms("item_b") == 400
    assert clock.heard_ms("other") == 0


async def test_units_start_callback_and_voiced_time():
    fake = FakeTime()
    started: list[tuple[str | None, bool]] = []
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep,
                       on_unit=lambda unit, t: started.append((unit.item_id, unit.last)))
    clock.push(MediaUnit(frame=frame(1), audio=tone(1) * 0, item_id="x", item_ms=40))
    assert clock.last_voiced_at is None
    clock.push(MediaUnit(frame=frame(2), audio=tone(2), item_id="x", item_ms=80, last=True))
    await clock.run(ticks=6)
    assert started == [("x", False), ("x", True), (None, False)]
    assert clock.last_voiced_at is not None


async def test_tracks_read_when_nobody_reads_do_not_pile_up():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    await clock.run(ticks=200)
    video, audio = drain(clock)
    # At most 200 ms of each: five frames, ten packets.
    assert len(video) <= 5 and len(audio) <= 10
    assert clock.stats.dropped_frames > 0 and clock.stats.dropped_packets > 0


async def test_idle_frames_in_the_middle_of_a_reply_count_as_underruns():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    clock.push(MediaUnit(frame=frame(1), audio=tone(1), item_id="x", item_ms=40))
    await clock.run(ticks=4)  # the renderer did not keep up: frame 2 shows the idle face
    assert clock.stats.underruns == 1
    await clock.run(ticks=4)  # nor for frames 3 and 4: each is 40 ms of gap in the voice
    assert clock.stats.underruns == 3
    clock.push(MediaUnit(frame=frame(2), audio=tone(2), item_id="x", item_ms=80, last=True))
    await clock.run(ticks=6)  # the end of a reply followed by idle frames is no underrun
    assert clock.stats.underruns == 3
    assert clock.heard_ms("x") == 80


def test_video_frames_keep_the_pictures_colours(astronaut_path):
    import cv2

    from livehuman.render.video_file import video_frame

    photo = cv2.imread(str(astronaut_path))
    for image in (photo[:512, :512], photo[:301, :299]):  # even: OpenCV converts; odd: the encoder will
        frame = video_frame(image)
        assert (frame.width, frame.height) == (image.shape[1], image.shape[0])
        back = frame.to_ndarray(format="bgr24").astype(int)
        assert np.abs(back - image).mean() < 3  # 4:2:0 loses only fine colour detail
    assert video_frame(photo[:512, :512]).format.name == "yuv420p"


def test_opus_packets_carry_the_clocks_audio_and_times():
    from av import CodecContext

    from livehuman.live.tracks import OpusPackets

    rate = 48000
    t = np.arange(rate) / rate
    sweep = np.sin(2 * np.pi * (200 * t + 900 * t**2))  # 200 Hz rising to 2 kHz: one best alignment
    voice = (8000 * sweep * (t > 0.3)).astype(np.int16)  # 300 ms of silence, then the sweep
    encoder, decoder = OpusPackets(), CodecContext.create("libopus", "r")
    decoded = []
    for k in range(len(voice) // SAMPLES_PER_PACKET):
        packet = encoder.encode(voice[k * SAMPLES_PER_PACKET : (k + 1) * SAMPLES_PER_PACKET], 5000 + k * SAMPLES_PER_PACKET)
        assert packet.pts == 5000 + k * SAMPLES_PER_PACKET and packet.time_base.denominator == rate
        for frame in decoder.decode(packet):
            decoded.append(frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0])
    out = np.concatenate(decoded).astype(np.float32)
    assert len(out) == len(voice)
    level = [np.sqrt(np.mean(out[i : i + 4800] ** 2)) for i in range(0, len(out), 4800)]
    assert max(level[:2]) < 100 and min(level[4:]) > 3000  # silence stays silent, the sweep comes through
    # The decoded sweep lags only by Opus's own look-ahead (312 samples at 48 kHz), never by a packet.
    lags = range(0, 1000)
    window = out[24000:25000]
    best = max(lags, key=lambda lag: float(np.dot(window, voice[24000 - lag : 25000 - lag].astype(np.float32))))
    assert abs(best - 312) < 40, best


def opus_round_trip(encode, audio: np.ndarray) -> np.ndarray:
    """`audio` (int16, 48 kHz) through `encode(samples, pts)` packet by packet, decoded by libopus."""
    from av import CodecContext

    decoder, out = CodecContext.create("libopus", "r"), []
    for k in range(len(audio) // SAMPLES_PER_PACKET):
        packet = encode(audio[k * SAMPLES_PER_PACKET : (k + 1) * SAMPLES_PER_PACKET], k * SAMPLES_PER_PACKET)
        out += [frame.to_ndarray().reshape(-1) for frame in decoder.decode(packet)]
    return np.concatenate(out).astype(np.float32)


def test_digital_silence_is_replayed_not_encoded_and_sounds_the_same():
    """A listening session's voice is digital silence: after its first packets (the sound before it
    dying away), its last packet is sent again without the encoder. Against the same encoder fed the
    same audio with every packet encoded: the silence decodes to the same samples, the sweep after
    it to the same sound (the encoder went on from where it stopped: -52 dB of difference here),
    and a pause too short to settle is the same bytes."""
    from livehuman.live.tracks import OpusPackets

    class Counting(OpusPackets):
        calls = 0

        def _encode(self, samples, pts):
            self.calls += 1
            return super()._encode(samples, pts)

    t = np.arange(48000) / 48000
    sweep = (8000 * np.sin(2 * np.pi * (200 * t + 900 * t**2))).astype(np.int16)[:19200]  # 400 ms
    for silence_ms, replayed in ((1000, True), (200, False)):
        silence = 48 * silence_ms
        audio = np.concatenate([sweep, np.zeros(silence, np.int16), sweep])
        ours = Counting()
        got, want = opus_round_trip(ours.encode, audio), opus_round_trip(OpusPackets()._encode, audio)  # (every packet encoded)
        packets = len(audio) // SAMPLES_PER_PACKET
        after = len(sweep) + silence
        assert np.abs(got[:after] - want[:after]).max() <= 1  # the sweep and the silence (decoded: zeros)
        if replayed:
            assert ours.calls <= packets - 30, (ours.calls, packets)  # most of the 50 silent ones replayed
            difference = np.sqrt(np.mean((got[after:] - want[after:]) ** 2))
            assert difference < 0.01 * np.sqrt(np.mean(want[after:] ** 2)), difference
        else:
            assert ours.calls == packets
            assert np.array_equal(got, want)


async def test_a_held_reply_waits_with_the_idle_face_and_plays_on_where_it_paused():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    for k in range(1, 6):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="x", item_ms=40 * k, last=k == 5))
    video, audio = [], []

    async def play(ticks: int) -> None:
        await clock.run(ticks=ticks)
        got = drain(clock)
        video.extend(got[0])
        audio.extend(got[1])

    await play(3)  # frame 1, and frame 2's first packet
    clock.hold()  # frame 2 finishes its 40 ms, then the reply waits
    await play(9)
    assert clock.heard_ms("x") == 80
    assert clock.busy and clock.stats.held_frames == 4 and clock.stats.underruns == 0
    clock.resume()
    await play(10)
    assert [int(f[0, 0, 0]) for f, _ in video] == [1, 2, 0, 0, 0, 0, 3, 4, 5, 0, 0]
    # Every unit's audio is played whole, in order: nothing lost at the hold or the resume.
    assert [int(a[0]) - 1000 for a, _ in audio if int(a[0])] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert clock.heard_ms("x") == 200 and not clock.busy
    assert clock.stats.underruns == 0


async def test_a_barge_in_during_a_hold_drops_the_held_reply_and_ends_the_hold():
    fake = FakeTime()
    clock = MediaClock(idle=lambda: frame(0), now=fake.now, sleep=fake.sleep)
    for k in range(1, 6):
        clock.push(MediaUnit(frame=frame(k), audio=tone(k), item_id="x", item_ms=40 * k))
    await clock.run(ticks=2)
    clock.hold()
    await clock.run(ticks=4)
    drain(clock)  # the audio track took what was handed out
    assert clock.interrupt() == 4
    assert not clock.held and not clock.busy and clock.heard_ms("x") == 40
    clock.push(MediaUnit(frame=frame(9), audio=tone(9), item_id="y", item_ms=40))
    await clock.run(ticks=4)  # the next reply plays at once
    assert clock.heard_ms("y") == 40
