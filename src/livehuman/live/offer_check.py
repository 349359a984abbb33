"""What a WebRTC offer must hold for a session, checked before aiortc sees it.

aiortc reads an offer as far as it can and fails later, or not at all: an offer without a DTLS
fingerprint was answered 200 and its session died 15 s on with an assertion in the log; one whose
audio lacked Opus (named only in another section) was taken; a missing `a=setup` came back as
"'NoneType' object has no attribute 'role'". Here each is refused up front, naming what is missing.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription

RECEIVING = (None, "sendrecv", "recvonly")  # the directions in which the browser receives the avatar
VIDEO_CODECS = ("video/vp8", "video/h264")  # what aiortc's sender can encode


def offer_problem(sdp: str) -> str | None:
    """What `sdp` (an offer) lacks for a session, in one sentence; None when it has it all."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception:  # noqa: BLE001 - aiortc's parser asserts and indexes as it goes
        return "the offer's SDP could not be read: send the offer your browser's createOffer() made, unchanged"
    sections = {}
    for media in description.media:
        sections.setdefault(media.kind, media)
    if "audio" not in sections or "video" not in sections:
        return ("the offer must have an audio and a video section (the avatar's voice and face; the audio "
                "section also carries the microphone, or is recvonly without one)")
    audio, video = sections["audio"], sections["video"]
    if not any(codec.mimeType.lower() == "audio/opus" for codec in audio.rtp.codecs):
        return "the offer's audio section must offer the Opus codec (every browser does)"
    if not any(codec.mimeType.lower() in VIDEO_CODECS for codec in video.rtp.codecs):
        return "the offer's video section must offer VP8 or H.264 (every browser does)"
    for media in (audio, video):
        kind = media.kind
        if media.direction not in RECEIVING:
            return (f"the offer's {kind} section is {media.direction}: it must receive the avatar's {kind} "
                    f"(sendrecv or recvonly)")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            return f"the offer's {kind} section has no ICE credentials (a=ice-ufrag and a=ice-pwd)"
        if media.dtls is None or not media.dtls.fingerprints or media.dtls.role is None:
            return (f"the offer's {kind} section lacks its DTLS fingerprint or role (a=fingerprint, "
                    f"a=setup:actpass): its media could not be encrypted")
    return None
