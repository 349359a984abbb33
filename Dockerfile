# `livehuman serve` in a container, on the same Debian as the project's machines.
#   docker build -t livehuman .
#   docker compose up            (compose.yaml: host networking for WebRTC, the avatar cache on a volume)
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    LIVEHUMAN_HOME=/data \
    LIVEHUMAN_RUNTIME_ONLY=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends make python3 python3-venv ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .
# The project's own set-up (Debian packages, .venv, constraints, the end-of-turn model), without
# the browsers and compiler that only the test suite needs.
RUN bash scripts/setup.sh && rm -rf /root/.cache/pip /var/lib/apt/lists/*

# Prepared avatars (and anything a user uploads) live here: mount a volume to keep them.
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD [".venv/bin/livehuman", "serve", "--host", "0.0.0.0", "--port", "8080"]
