"""The cpu engine: landmark-driven warping of the lower face with a synthesized inner mouth."""
