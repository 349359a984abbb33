"""A real aiortc client of `livehuman serve`: speaks audio at real-time pace, records what comes back.

The tests and `livehuman bench live` use it; it is also a small example of the page's protocol.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from livehuman.live import video_buffer
from livehuman.rates import WEBRTC_RATE

RATE = WEBRTC_RATE  # what the client sends and receives: Opus in WebRTC
PACKET = 960  # 20 ms
VOICED_RMS = 500.0  # int16 RMS of a received packet that counts as voiced


class SpeakingTrack(MediaStreamTrack):
    """A microphone that plays queued speech at real-time pace, and silence in between."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending: deque[tuple[np.ndarray, asyncio.Future | None]] = deque()
        self._offset = 0
        self._start: float | None = None
        self._pts = 0

    def say(self, samples: np.ndarray) -> asyncio.Future:
        """Queue 48 kHz mono int16 speech; the future resolves to the time its last packet was sent."""
        done = asyncio.get_event_loop().create_future()
        self._pending.append((np.asarray(samples, np.int16), done))
        return done

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            delay = self._start + self._pts / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        packet = np.zeros(PACKET, np.int16)
        filled = 0
        while filled < PACKET and self._pending:
            samples, done = self._pending[0]
            take = min(PACKET - filled, len(samples) - self._offset)
            packet[filled : filled + take] = samples[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset >= len(samples):
                self._pending.popleft()
                self._offset = 0
                if done is not None and not done.done():
                    done.set_result(time.monotonic())
        frame = AudioFrame.from_ndarray(packet.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += PACKET
        return frame


@dataclass
class Received:
    """What came back from the server, with arrival times (monotonic seconds)."""

    audio: list[tuple[float, np.ndarray]] = field(default_factory=list)  # 20 ms packets, mono int16
    video: list[tuple[float, object]] = field(default_factory=list)  # av.VideoFrame, when recorded
    video_count: int = 0
    video_times: list[float] = field(default_factory=list)
    video_pts: list[int] = field(default_factory=list)  # RTP timestamps (1/90000 s) of the frames
    # When each audio packet / video frame's last RTP packet reached the client's receiver, before
    # aiortc's jitter buffers (which hold audio four packets, video until the next frame starts).
    audio_net: list[float] = field(default_factory=list)
    audio_pts: list[int] = field(default_factory=list)  # RTP timestamps (1/48000 s) of the packets
    video_net: list[float] = field(default_factory=list)
    events: list[tuple[float, dict]] = field(default_factory=list)


class LiveClient:
    """One WebRTC session with a livehuman server, as the page opens it (data channel first)."""

    def __init__(self, base_url: str, record_video: bool = False, token: str | None = None,
                 persona: str | None = None, avatar: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}  # a server with --token
        self.record_video = record_video
        self.persona = persona  # the persona's key to talk with (None: the server's default)
        self.avatar = avatar  # an uploaded avatar's name (POST /avatars) to talk with (None: the persona's)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = SpeakingTrack()
        self.received = Received()
        self.session: str | None = None
        self.answer_sdp: str | None = None
        self.node: str | None = None  # the machine serving the session, in a cluster (cluster/front.py)
        self.offer_seconds: float | None = None  # how long POST /offer took to answer
        self._channel = self.pc.createDataChannel("events")
        self._channel_open = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._channel.on("open", self._channel_open.set)
        self._channel.on("message", self._on_message)
        self.pc.addTrack(self.mic)
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.on("track", self._on_track)
        self._rtp_arrivals: dict[str, dict[int, float]] = {}
        self._rtp_origin: dict[str, int] = {}
        for transceiver in self.pc.getTransceivers():
            self._note_rtp_arrivals(transceiver.kind, transceiver.receiver)
            if transceiver.kind == "video":
                video_buffer.install(transceiver.receiver)  # a lost packet must not freeze the picture

    async def connect(self, timeout: float = 20.0) -> None:
        """Offer, get the answer, and wait for the data channel to open."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession(headers=self.headers) as http:
            offer = {"sdp": self.pc.localDescription.sdp, "type": "offer"}
            if self.persona is not None:
                offer["persona"] = self.persona
            if self.avatar is not None:
                offer["avatar"] = self.avatar
            sent = time.perf_counter()
            async with http.post(f"{self.base_url}/offer", json=offer) as response:
                answer = await response.json()
                self.offer_seconds = time.perf_counter() - sent
                if response.status != 200:
                    raise ConnectionError(f"{response.status}: {answer.get('error')}")
        self.session = answer["session"]
        self.answer_sdp = answer["sdp"]
        self.node = answer.get("node")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        await asyncio.wait_for(self._channel_open.wait(), timeout)
        if answer.get("lifeline"):
            self._tasks.append(asyncio.ensure_future(self._follow_lifeline(answer["lifeline"])))

    async def _follow_lifeline(self, path: str) -> None:
        """Record a cluster's lifeline messages as events, marked `"lifeline": true` (the last one,
        `closed`, says when the machine serving this session was lost)."""
        async with aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=None)) as http:
            async with http.get(f"{self.base_url}{path}") as response:
                async for line in response.content:
                    if line.strip():
                        self.received.events.append((time.monotonic(), {**json.loads(line), "lifeline": True}))
                        self._changed.set()

    def send(self, message: dict | str) -> None:
        """Send a message (a dict as JSON, a string as it is) on the `events` channel;
        ConnectionError when the channel has closed (the server ended the session)."""
        if self._channel.readyState != "open":
            raise ConnectionError(f"the events channel is {self._channel.readyState}: the session has ended")
        self._channel.send(message if isinstance(message, str) else json.dumps(message))

    def say(self, samples48: np.ndarray) -> asyncio.Future:
        """Speak 48 kHz mono int16 audio into the microphone; resolves to when it was all sent."""
        return self.mic.say(samples48)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.mic.stop()
        await self.pc.close()

    # what came back

    def events(self, kind: str | None = None, since: float = 0.0) -> list[dict]:
        return [e for t, e in self.received.events if t >= since and (kind is None or e.get("type") == kind)]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 30.0, what: str = "the server"):
        """Wait until `predicate()` is truthy (checked whenever something arrives); return its value.
        `what` names what is awaited in the TimeoutError's message."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))
            except asyncio.TimeoutError:
                pass

    def event(self, kind: str, since: float = 0.0, **match) -> dict | None:
        """The first event of `kind` (after `since`) whose fields equal `match`."""
        for t, e in self.received.events:
            if t >= since and e.get("type") == kind and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def first_voiced_after(self, since: float) -> float | None:
        """Arrival time of the first voiced audio packet after `since`."""
        for t, samples in self.received.audio:
            if t >= since and rms(samples) > VOICED_RMS:
                return t
        return None

    def first_voiced_arrival_after(self, since: float) -> float | None:
        """When the packet `first_voiced_after(since)` names reached this machine, before aiortc's
        jitter buffer held it (NaN when its arrival was not noted)."""
        for (t, samples), net in zip(self.received.audio, self.received.audio_net):
            if t >= since and rms(samples) > VOICED_RMS:
                return net
        return None

    def last_voiced(self) -> float | None:
        for t, samples in reversed(self.received.audio):
            if rms(samples) > VOICED_RMS:
                return t
        return None

    def voiced_seconds(self, start: float, end: float = float("inf")) -> float:
        """Seconds of voiced audio received between `start` and `end`."""
        return sum(len(s) / RATE for t, s in self.received.audio if start <= t < end and rms(s) > VOICED_RMS)

    def _on_message(self, message) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = {"type": "unparsable", "raw": message}
        self.received.events.append((time.monotonic(), event))
        self._changed.set()

    def _note_rtp_arrivals(self, kind: str, receiver) -> None:
        """Note when each RTP timestamp's packets arrive, ahead of aiortc's jitter buffer.

        aiortc has no public hook for this; its transport calls `receiver._handle_rtp_packet`.
        """
        arrivals = self._rtp_arrivals.setdefault(kind, {})
        handle = receiver._handle_rtp_packet

        async def noted(packet, arrival_time_ms: int) -> None:
            arrivals[packet.timestamp] = time.monotonic()
            self._rtp_origin.setdefault(kind, packet.timestamp)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = noted

    def _net_arrival(self, kind: str, pts) -> float:
        # aiortc numbers a track's frames from its first RTP timestamp, which `noted` saw first.
        origin = self._rtp_origin.get(kind)
        if origin is None or pts is None:
            return float("nan")
        return self._rtp_arrivals[kind].pop((origin + int(pts)) % 2**32, float("nan"))

    def _on_track(self, track) -> None:
        reader = self._read_audio if track.kind == "audio" else self._read_video
        self._tasks.append(asyncio.ensure_future(reader(track)))

    async def _read_audio(self, track) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            x = frame.to_ndarray().reshape(-1)
            channels = len(frame.layout.channels)
            if channels > 1:
                x = x.reshape(-1, channels).mean(axis=1)
            self.received.audio.append((time.monotonic(), x.astype(np.int16)))
            self.received.audio_net.append(self._net_arrival("audio", frame.pts))
            self.received.audio_pts.append(int(frame.pts or 0))
            self._changed.set()

    async def _read_video(self, track) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            self.received.video_count += 1
            self.received.video_times.append(now)
            self.received.video_pts.append(int(frame.pts or 0))
            self.received.video_net.append(self._net_arrival("video", frame.pts))
            if self.record_video:
                self.received.video.append((now, frame))
            self._changed.set()


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float32) ** 2))) if len(samples) else 0.0
