"""live/offer_check.py: a real aiortc offer passes; each thing a session needs, taken out, is named."""

from __future__ import annotations

import re

import pytest

from livehuman.live.offer_check import offer_problem


@pytest.fixture(scope="module")
def offer() -> str:
    """An offer as the page's makes it (microphone, avatar audio and video, data channel), without ICE
    gathering: createOffer alone opens no socket."""
    import asyncio

    from aiortc import RTCPeerConnection

    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="recvonly")
        pc.createDataChannel("events")
        sdp = (await pc.createOffer()).sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def without(sdp: str, pattern: str) -> str:
    return "".join(line + "\r\n" for line in sdp.splitlines() if not re.match(pattern, line))


def section(sdp: str, kind: str) -> tuple[str, str, str]:
    """The SDP before the first `kind` section, that section, and what follows it."""
    start = sdp.index(f"m={kind} ")
    end = sdp.find("\r\nm=", start) + 2 or len(sdp)
    return sdp[:start], sdp[start:end], sdp[end:]


def test_a_real_offer_and_one_without_a_microphone_are_accepted(offer):
    assert offer_problem(offer) is None
    # A visitor who refused the microphone still hears and sees the avatar (the page types instead).
    before, audio, after = section(offer, "audio")
    assert offer_problem(before + audio.replace("a=sendrecv", "a=recvonly") + after) is None


def test_each_missing_piece_is_named(offer):
    assert "DTLS fingerprint" in offer_problem(without(offer, r"a=fingerprint:"))
    assert "a=setup" in offer_problem(without(offer, r"a=setup:"))
    assert "ICE credentials" in offer_problem(without(offer, r"a=ice-pwd:"))
    before, video, after = section(offer, "video")
    assert "video section is sendonly" in offer_problem(before + video.replace("a=recvonly", "a=sendonly") + after)
    assert "audio and a video section" in offer_problem(before + after)


def test_opus_must_be_in_the_audio_section_itself(offer):
    before, audio, after = section(offer, "audio")
    opus = re.search(r"a=rtpmap:(\d+) opus/48000", audio).group(1)
    others = [pt for pt in re.match(r"m=audio \S+ \S+ ([\d ]+)", audio).group(1).split() if pt != opus]
    audio = re.sub(r"^(m=audio \S+ \S+) [\d ]+", r"\1 " + " ".join(others), audio)
    audio = without(audio, rf"a=(rtpmap|fmtp|rtcp-fb):{opus} ")
    # The words "opus/48000" elsewhere (an attribute of the video section) do not stand in for it.
    before_video, video, after_video = section(after, "video")
    after = before_video + video + "a=x-note:opus/48000\r\n" + after_video
    assert "Opus" in offer_problem(before + audio + after)


def test_an_unreadable_offer_is_refused_in_words_not_in_python(offer):
    for sdp in ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF zz\r\n", offer.replace("a=rtpmap:", "a=rtpmap:x", 1)):
        problem = offer_problem(sdp)
        assert problem is not None and "browser" in problem and "NoneType" not in problem
