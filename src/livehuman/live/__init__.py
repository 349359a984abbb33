"""The live session: media clock, WebRTC transport and the HTTP server."""
