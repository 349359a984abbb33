"""The Python client's video jitter buffer: frames in order, and a lost packet costs a few frames."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from livehuman.live.video_buffer import KeyFrameVideoBuffer

KEY, DELTA = b"\x00", b"\x01"  # the first byte of a VP8 key frame / delta frame


def stream(frames: int, packets_per_frame: int = 2, first_seq: int = 100, key_every: int = 1000):
    """RTP packets of `frames` VP8 frames, each split in `packets_per_frame` packets."""
    out, seq = [], first_seq
    for f in range(frames):
        for p in range(packets_per_frame):
            packet = RtpPacket(payload_type=96, sequence_number=seq % 65536, timestamp=3600 * f)
            head = (KEY if f % key_every == 0 else DELTA) if p == 0 else b""
            packet._data = head + bytes([f % 256, p])
            out.append(packet)
            seq += 1
    return out


def feed(buffer, packets):
    """Every (ask for a key frame?, frame number) the buffer gives, one per packet added."""
    out = []
    for packet in packets:
        ask, frame = buffer.add(packet)
        out.append((ask, None if frame is None else frame.data[1]))
    return out


def frames_of(results):
    return [f for _, f in results if f is not None]


def test_frames_come_whole_and_in_order_once_the_next_one_begins():
    buffer = KeyFrameVideoBuffer()
    packets = stream(10)
    results = feed(buffer, packets)
    assert frames_of(results) == list(range(9))  # the tenth waits for an eleventh to begin
    assert not any(ask for ask, _ in results)
    first = KeyFrameVideoBuffer().add(packets[0])
    assert first == (False, None)


def test_a_frame_is_the_join_of_its_packets():
    buffer = KeyFrameVideoBuffer()
    packets = stream(2, packets_per_frame=3)
    frames = [frame for _, frame in (buffer.add(p) for p in packets) if frame is not None]
    assert [f.data for f in frames] == [KEY + b"\x00\x00" + b"\x00\x01" + b"\x00\x02"]
    assert frames[0].timestamp == 0


def test_a_packet_that_comes_late_is_waited_for():
    buffer = KeyFrameVideoBuffer(patience=5)
    packets = stream(6)
    late = packets.pop(3)  # frame 1's second packet, retransmitted after three more packets
    packets.insert(6, late)
    assert frames_of(feed(buffer, packets)) == [0, 1, 2, 3, 4]


def test_a_lost_packet_is_given_up_on_and_a_key_frame_asked_for():
    buffer = KeyFrameVideoBuffer(patience=5)
    packets = stream(40, key_every=20)
    del packets[9]  # frame 4's second packet, lost for good
    results = feed(buffer, packets)
    asks = [i for i, (ask, _) in enumerate(results) if ask]
    # Given up once five frames have begun: frames 4 to 8 (packet 16 is frame 8's first).
    assert asks and asks[0] == 15
    # Frames 0 to 3, then nothing until the key frame (20): a frame without its reference would smear.
    assert frames_of(results) == [0, 1, 2, 3] + list(range(20, 39))


def test_the_key_frame_is_asked_for_again_while_none_comes():
    buffer = KeyFrameVideoBuffer(patience=5)
    packets = stream(120, key_every=1000)
    del packets[9]
    results = feed(buffer, packets)
    assert frames_of(results) == [0, 1, 2, 3]
    assert sum(ask for ask, _ in results) >= 4  # at first, and every 25 frames dropped


def test_sequence_numbers_wrap():
    buffer = KeyFrameVideoBuffer()
    assert frames_of(feed(buffer, stream(10, first_seq=65530))) == list(range(9))


def test_a_restarted_stream_starts_afresh():
    buffer = KeyFrameVideoBuffer()
    feed(buffer, stream(5))
    assert frames_of(feed(buffer, stream(5, first_seq=30000))) == [0, 1, 2, 3]


def test_aiortcs_own_buffer_freezes_where_this_one_goes_on():
    """Why the client changes aiortc's buffer: the same loss stops aiortc's for 500 packets."""
    packets = stream(200, key_every=20)
    del packets[9]
    theirs = JitterBuffer(capacity=512, is_video=True)
    ours = KeyFrameVideoBuffer()
    assert frames_of(feed(theirs, packets)) == [0, 1, 2, 3]
    assert len(frames_of(feed(ours, packets))) > 150
