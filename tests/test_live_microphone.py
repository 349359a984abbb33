"""The server reads the microphone packet by packet: in order, at once, never far behind after a
loss, and never behind a busy event loop."""

from __future__ import annotations

import asyncio

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket

from livehuman.live.microphone import CHUNK_MS, PromptAudioBuffer, microphone_chunks


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=(seq * 960) % 2**32)
    p._data = f"opus {seq}".encode()  # what aiortc's depayloader leaves for the buffer
    return p


def feed(buffer, seqs: list[int]) -> list[str | None]:
    """What the buffer hands on after each packet: its data, or None."""
    out = []
    for seq in seqs:
        pli, frame = buffer.add(packet(seq))
        assert pli is False
        out.append(None if frame is None else frame.data.decode())
    return out


def test_each_packet_in_order_goes_on_as_it_arrives():
    buffer = PromptAudioBuffer()
    assert feed(buffer, [100, 101, 102, 103]) == ["opus 100", "opus 101", "opus 102", "opus 103"]
    _, frame = buffer.add(packet(104))
    assert frame.timestamp == 104 * 960
    # aiortc's own buffer holds the first four packets back (80 ms), for a loudspeaker.
    assert [f for _, f in (JitterBuffer(capacity=16, prefetch=4).add(packet(s)) for s in range(4))] == [None] * 4


def test_sequence_numbers_wrap_around():
    assert feed(PromptAudioBuffer(), [65534, 65535, 65536, 65537]) == ["opus 65534", "opus 65535", "opus 65536", "opus 65537"]


def test_a_reordered_packet_is_waited_for_and_nothing_is_lost():
    buffer = PromptAudioBuffer()
    assert feed(buffer, [10, 12, 11, 13, 14]) == ["opus 10", None, "opus 11", "opus 12", "opus 13"]


def test_a_lost_packet_is_given_up_after_patience_and_a_late_one_dropped():
    buffer = PromptAudioBuffer(patience=2)
    got = feed(buffer, [1, 3, 4, 5, 6, 2, 7])
    # 2 is missing: 3 and 4 wait for it, 5 makes three waiting and 2 is given up on.
    assert got == ["opus 1", None, None, "opus 3", "opus 4", None, "opus 5"]
    # Never more than `patience` packets behind afterwards.
    assert feed(buffer, [8, 9]) == ["opus 6", "opus 7"]


def test_duplicates_are_not_handed_on_twice():
    buffer = PromptAudioBuffer()
    assert feed(buffer, [5, 5, 6, 6, 7]) == ["opus 5", None, "opus 6", None, "opus 7"]


def test_a_jump_far_ahead_or_behind_restarts_from_the_new_packet():
    assert feed(PromptAudioBuffer(), [1, 2, 5000, 5001]) == ["opus 1", "opus 2", "opus 5000", "opus 5001"]
    # Numbering started again lower: not 50000 late packets in a row.
    assert feed(PromptAudioBuffer(), [60000, 60001, 7, 8]) == ["opus 60000", "opus 60001", "opus 7", "opus 8"]


def received_track(seconds: float) -> RemoteStreamTrack:
    """aiortc's track of a browser's microphone with `seconds` of 48 kHz audio (a 440 Hz tone, 20 ms
    frames) already decoded and waiting in it, then its end."""
    track = RemoteStreamTrack(kind="audio")
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * seconds)) / 48000)).astype(np.int16)
    for k in range(len(tone) // 960):
        frame = av.AudioFrame.from_ndarray(tone[None, k * 960 : (k + 1) * 960], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, k * 960
        track._queue.put_nowait(frame)  # where aiortc's decoder puts it (the track has no public way)
    track._queue.put_nowait(None)  # aiortc's end of the track
    return track


def crossings_per_second(samples: np.ndarray, rate: int) -> float:
    """Zero crossings a second: 880 for the 440 Hz tone."""
    return np.count_nonzero(np.diff(np.signbit(samples))) / (len(samples) / rate)


def test_packets_waiting_are_all_taken_at_the_next_turn_of_the_event_loop():
    """A busy server turns its event loop less often than every 20 ms. The microphone was read one
    packet a turn (each awaited through `asyncio.wait_for`), so it fell seconds behind the visitor,
    further with every question, and the answers with it. Now every packet waiting is taken at once."""
    track = received_track(1.0)

    async def two_turns() -> list[tuple[np.ndarray, int]]:
        chunks = []

        async def read():
            async for chunk, rate in microphone_chunks(track, lambda: 16000):
                chunks.append((chunk, rate))

        reader = asyncio.ensure_future(read())
        for _ in range(2):
            await asyncio.sleep(0)  # one turn of the loop
        assert reader.done()  # read to the track's end
        return chunks

    chunks = asyncio.run(two_turns())
    assert len(chunks) >= 49  # of 50 packets (the resampler may hold a few samples back)
    assert {rate for _, rate in chunks} == {16000}
    assert {len(chunk) for chunk, _ in chunks} == {16000 * CHUNK_MS // 1000}
    heard = np.concatenate([chunk for chunk, _ in chunks])
    # the same tone, at the brain's rate: its loudness and its pitch (zero crossings)
    assert abs(np.sqrt(np.mean(heard[400:] ** 2)) - 8000 / 32768 / np.sqrt(2)) < 0.01
    assert abs(crossings_per_second(heard[400:], 16000) - 880) < 20


def test_a_brain_that_takes_over_at_another_rate_hears_its_own_rate():
    """A fallback brain taking over (the offline one at 16 kHz for the Realtime one at 24 kHz) gets
    whole chunks at its rate from the next packet on, the same tone."""
    track = received_track(0.6)
    rates = [24000]

    async def read() -> list[tuple[np.ndarray, int]]:
        chunks = []
        async for chunk, rate in microphone_chunks(track, lambda: rates[-1]):
            chunks.append((chunk, rate))
            if len(chunks) == 10:
                rates.append(16000)
        return chunks

    chunks = asyncio.run(read())
    assert [rate for _, rate in chunks[:10]] == [24000] * 10
    assert {rate for _, rate in chunks[11:]} == {16000}
    assert {len(chunk) for chunk, rate in chunks[11:]} == {320}
    later = np.concatenate([chunk for chunk, _ in chunks[12:]])
    assert abs(crossings_per_second(later, 16000) - 880) < 30
