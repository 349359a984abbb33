"""Every sample rate and the frame rate livehuman uses, each named for its role."""

FPS = 25  # video frames per second: live sessions, and batch renders unless the source says otherwise
FRAME_MS = 1000 // FPS  # one video frame: 40 ms

REALTIME_RATE = 24000  # PCM16 mono, both ways, in the OpenAI Realtime protocol
WEBRTC_RATE = 48000  # Opus in WebRTC: the media clock's audio
LISTEN_RATE = 16000  # speech analysis: VAD, recognizers, phone recognition, the engines' audio windows
