"""The benchmarks' simulated room (bench/rooms.py): reverberation that fills a silence, noise as asked."""

import numpy as np

from livehuman.bench.rooms import Room, random_room, through_room

RATE = 16000


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20)


def test_a_room_fills_the_silence_after_a_sound_and_adds_its_noise():
    t = np.arange(RATE) / RATE
    dry = np.where(t < 0.5, 0.3 * np.sin(2 * np.pi * 220 * t), 0.0)  # a vowel, then a closure's silence
    room = Room(rt60=0.4, direct_db=3.0, snr_db=30.0)
    wet = through_room(dry, RATE, room, np.random.default_rng(0))
    assert wet.shape == dry.shape and wet.dtype == np.float32
    sound, just_after, late = wet[: RATE // 2], wet[RATE // 2 : RATE // 2 + 800], wet[-3200:]
    # 50 ms after the sound stops its echo is still within 20 dB of it; 0.3 s later the room's noise is left
    assert _db(sound) - _db(just_after) < 20
    assert abs((_db(sound) - _db(late)) - room.snr_db) < 5  # noise at the asked level (the echo has died)


def test_rooms_are_drawn_from_the_stated_ranges_and_repeat_with_their_seed():
    rooms = [random_room(np.random.default_rng(seed)) for seed in range(200)]
    assert all(0.15 <= r.rt60 <= 0.6 and 0 <= r.direct_db <= 12 and 20 <= r.snr_db <= 45 for r in rooms)
    assert random_room(np.random.default_rng(7)) == rooms[7]
    x = np.random.default_rng(1).normal(size=RATE)
    a = through_room(x, RATE, rooms[0], np.random.default_rng(3))
    assert np.array_equal(a, through_room(x, RATE, rooms[0], np.random.default_rng(3)))
