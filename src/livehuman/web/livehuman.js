// livehuman.js: a livehuman face in your own page. No build step, no dependency; see docs/embed.md.
//
//   <video id="face" autoplay playsinline></video>
//   <script src="https://YOUR-SERVER/static/livehuman.js"></script>
//   <script>
//     const human = new Livehuman({ server: "https://YOUR-SERVER", video: document.getElementById("face") });
//     human.on("transcript", (e) => console.log(e.role, e.text));
//     button.onclick = async () => { const id = await human.connect(); /* give `id` to your backend */ };
//     human.say("Welcome!");   // the avatar says it; human.ask("...") asks it; human.interrupt(); human.stop()
//     // a click on the face: const p = Livehuman.videoPoint(video, e.clientX, e.clientY); if (p) human.touch(p.x, p.y);
//   </script>
//
// Events (human.on(type, fn)): "state" {state: listening|thinking|speaking}, "transcript" {role,
// text, final, item}, "metrics", "notice" {message}, "error" {message}, "connected" {session},
// "ended" {reason} (the server ended the conversation, and says why), "closed" {reason},
// "connection" {state: the RTCPeerConnection's}, "touch" {zone, expression,
// strength} (the face reacts to a touch), "switch" {persona} (the server asked for a new conversation
// with another persona: the client hangs up and reconnects with it, unless followSwitch is false),
// "notice" {code: "moved"} (a cluster lost the machine serving this conversation: the client
// connects again, to a surviving one, unless followMoves is false), and "message" for every one of
// them (also what else the server sends: "persona", "emotion"…). The page at / uses this client too.
// The same script turns each element with a data-livehuman-embed attribute into the embed iframe
// (Livehuman.embed, below), and Livehuman.theme sets the colours both livehuman pages share.
(function (global) {
  "use strict";

  const ICE_GATHERING_TIMEOUT_MS = 5000;
  // A server that takes the offer but never answers (stopped, overloaded, a proxy that holds the
  // request), or media that never flows after the answer: said after this long, not "connecting" for ever.
  const CONNECT_TIMEOUT_MS = 20000;
  const MOVE_DELAY_MS = 500; // after a cluster lost the machine of a conversation, before connecting again
  // What the embed page reads from its address (theming and framing); Livehuman.embed copies them
  // from the element's data attributes.
  const EMBED_OPTIONS = ["title", "name", "accent", "background", "color", "fit", "microphone", "text",
    "controls", "parent", "start", "logo", "poster"];

  function scriptOrigin() {
    const script = document.currentScript;
    try { return script && script.src ? new URL(script.src).origin : global.location.origin; } catch { return ""; }
  }
  const HOME = scriptOrigin(); // where this script came from: the livehuman server, by default

  function iceGatheringComplete(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (peer.iceGatheringState === "complete") { peer.removeEventListener("icegatheringstatechange", done); resolve(); }
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
    });
  }

  class Livehuman {
    // options: server (default: where this script came from), video (a <video> element to show
    // the face in; without one, attach `human.stream` yourself), token (a server with --token),
    // microphone (true: ask for it; false: the face only listens to text; a MediaStream: that one),
    // iceServers (default: the server's, from GET /ice-servers), iceTransportPolicy ("relay": media
    // only through the TURN servers, which keeps the visitor's address from the server; default
    // "all"), persona (a persona's key: GET /personas; none: the server's default), avatar (a face
    // uploaded to POST /avatars, by the name it was given; none: the persona's), followSwitch
    // (false: a "switch" event is only told, the page switches itself).
    constructor(options = {}) {
      this.server = (options.server || HOME).replace(/\/+$/, "");
      this.video = options.video || null;
      this.token = options.token || null;
      this.microphone = options.microphone !== false;
      this.iceServers = options.iceServers || null; // null: the server's (GET /ice-servers)
      this.iceTransportPolicy = options.iceTransportPolicy === "relay" ? "relay" : "all";
      this.persona = options.persona || null;
      this.avatar = options.avatar || null;
      this.followSwitch = options.followSwitch !== false;
      this.followMoves = options.followMoves !== false; // reconnect when a cluster loses the session's machine
      this.state = "idle";
      this.session = null;
      this.stream = null;
      this.pc = null;
      this.channel = null;
      this.mic = null;
      this._listeners = new Map();
      this._outbox = [];
      this._lost = false; // the connection went "disconnected" and has not come back yet
    }

    on(type, listener) {
      if (!this._listeners.has(type)) this._listeners.set(type, new Set());
      this._listeners.get(type).add(listener);
      return this;
    }

    off(type, listener) {
      const set = this._listeners.get(type);
      if (set) set.delete(listener);
      return this;
    }

    _emit(type, event) {
      const message = Object.assign({ type }, event);
      for (const name of [type, "message"]) {
        for (const listener of this._listeners.get(name) || []) {
          try { listener(message); } catch (err) { setTimeout(() => { throw err; }); }
        }
      }
    }

    _setState(state) {
      if (state === this.state) return;
      this.state = state;
      this._emit("state", { state });
    }

    // Connect: the microphone (if asked for and allowed), the offer, the answer. Resolves to the
    // session's id, which a backend uses with the drive API (POST /sessions/{id}/say …).
    async connect() {
      if (this.pc) return this.session;
      if (typeof RTCPeerConnection === "undefined") throw new Error("this browser has WebRTC turned off");
      this._setState("connecting");
      const policy = this.iceTransportPolicy;
      const peer = this.pc = new RTCPeerConnection({ iceServers: this.iceServers || [], iceTransportPolicy: policy });
      try {
        if (!this.iceServers) {
          const servers = await this._serverIceServers(); // STUN/TURN for a visitor behind NAT
          if (servers.length) peer.setConfiguration({ iceServers: servers, iceTransportPolicy: policy });
        }
        if (typeof MediaStream !== "undefined" && this.microphone instanceof MediaStream) this.mic = this.microphone;
        else if (this.microphone) this.mic = await this._openMicrophone();
        if (this.pc !== peer) throw new Error("stopped while connecting");
        const channel = this.channel = peer.createDataChannel("events");
        channel.onopen = () => {
          for (const message of this._outbox.splice(0)) channel.send(JSON.stringify(message));
          if (this.state === "connecting") this._setState("listening");
          this._emit("connected", { session: this.session });
        };
        channel.onmessage = (e) => this._onMessage(e.data);
        channel.onclose = () => { if (this.pc === peer) this.stop("the server ended the conversation"); };
        if (this.mic) {
          for (const track of this.mic.getAudioTracks()) peer.addTransceiver(track, { direction: "sendrecv", streams: [this.mic] });
        } else {
          peer.addTransceiver("audio", { direction: "recvonly" });
        }
        peer.addTransceiver("video", { direction: "recvonly" });
        this.stream = new MediaStream();
        if (this.video) this.video.srcObject = this.stream;
        peer.ontrack = (e) => {
          this.stream.addTrack(e.track);
          if (this.video && this.stream.getTracks().length === 1) {
            this.video.play().catch((err) => this._emit("notice", {
              message: `the browser blocked playback (${err.name}): call play() on the video from a click`,
              code: "autoplay",
            }));
          }
        };
        peer.onconnectionstatechange = () => {
          if (this.pc !== peer) return;
          this._emit("connection", { state: peer.connectionState });
          // "disconnected" may pass (a network hiccup) or end in "failed" (the server is gone): said
          // either way, so that a frozen face is never taken for a live one.
          if (peer.connectionState === "disconnected") {
            this._lost = true;
            this._emit("notice", { message: "the connection to the server was lost: waiting for it to come back", code: "disconnected" });
          } else if (peer.connectionState === "connected" && this._lost) {
            this._lost = false;
            this._emit("notice", { message: "the connection is back", code: "reconnected" });
          }
          if (peer.connectionState === "failed") {
            this._emit("error", { message: "the connection to the server failed", code: "connection" });
            this.stop("the connection failed", "failed");
          }
        };
        // Until the events channel opens, the attempt may hang anywhere (the offer's answer, ICE):
        // it ends with a message instead.
        const stalled = setTimeout(() => {
          if (this.pc !== peer || (this.channel && this.channel.readyState === "open")) return;
          this._emit("error", { message: `the server did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`, code: "timeout" });
          this.stop("the server did not answer", "failed");
        }, CONNECT_TIMEOUT_MS);
        peer.addEventListener("connectionstatechange", () => { if (peer.connectionState === "closed") clearTimeout(stalled); });
        await peer.setLocalDescription(await peer.createOffer());
        await iceGatheringComplete(peer);
        if (this.pc !== peer) throw new Error("stopped while connecting"); // no offer from a failed attempt
        const headers = { "Content-Type": "application/json" };
        if (this.token) headers.Authorization = `Bearer ${this.token}`;
        let response;
        try {
          response = await fetch(`${this.server}/offer`, {
            method: "POST", headers,
            body: JSON.stringify({ sdp: peer.localDescription.sdp, type: peer.localDescription.type,
              ...(this.persona ? { persona: this.persona } : {}), ...(this.avatar ? { avatar: this.avatar } : {}) }),
          });
        } catch (err) { // fetch's own words ("Failed to fetch") say nothing a visitor can act on
          throw new Error(`the server cannot be reached at ${this.server} (is it running?)`);
        }
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) {
          const refused = new Error(answer.error || `the server answered ${response.status}`);
          refused.status = response.status; // 401: the token; 503: busy
          throw refused;
        }
        if (this.pc !== peer) throw new Error("stopped while connecting");
        this.session = answer.session;
        await peer.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
        if (answer.lifeline) this._followLifeline(peer, answer.lifeline, headers);
        return this.session;
      } catch (err) {
        if (this.pc === peer) {
          this._emit("error", { message: `could not connect: ${err.message || err}`, code: "connect", status: err.status });
          this.stop(String(err.message || err), "failed");
        }
        throw err;
      }
    }

    start() { return this.connect(); }

    // A cluster's front door (serve --cluster) keeps a lifeline open for each session: newline-
    // delimited JSON whose last message, "closed", says the session ended; with reconnect: true its
    // machine was lost, and connecting again lands on a surviving one.
    async _followLifeline(peer, path, headers) {
      let reader;
      try {
        const response = await fetch(`${this.server}${path}`, { headers });
        if (!response.ok || !response.body) return;
        reader = response.body.getReader();
      } catch { return; }
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        let chunk;
        try { chunk = await reader.read(); } catch { return; }
        if (chunk.done || this.pc !== peer) { reader.cancel().catch(() => {}); return; }
        buffered += decoder.decode(chunk.value, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop();
        for (const line of lines) {
          let message;
          try { message = JSON.parse(line); } catch { continue; } // a blank keep-alive line
          if (message.type === "closed" && message.reconnect) { this._moved(message.reason); return; }
        }
      }
    }

    _moved(reason) {
      this._emit("notice", { message: reason, code: "moved" });
      this.stop(reason, this.followMoves ? "connecting" : "ended");
      if (!this.followMoves) return;
      if (typeof MediaStream !== "undefined" && this.microphone instanceof MediaStream) this.microphone = true; // stop() ended its tracks
      setTimeout(() => { if (!this.pc) this.connect().catch(() => {}); }, MOVE_DELAY_MS);
    }

    // The STUN and TURN servers the server was given (serve --ice-server); none from an older
    // server, or when it cannot be asked: then only addresses it can reach directly work.
    async _serverIceServers() {
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      try {
        const response = await fetch(`${this.server}/ice-servers`, { headers });
        return response.ok ? ((await response.json()).iceServers || []) : [];
      } catch {
        return [];
      }
    }

    async _openMicrophone() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        this._emit("notice", { message: "no microphone here (it needs https or localhost): text only" });
        return null;
      }
      try {
        return await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
      } catch (err) {
        this._emit("notice", { message: `no microphone (${err.name || err}): text only` });
        return null;
      }
    }

    _onMessage(raw) {
      let event;
      try { event = JSON.parse(raw); } catch { return; }
      if (!event || typeof event.type !== "string") return;
      if (event.type === "state") { this._setState(event.state); return; }
      const { type, ...rest } = event;
      this._emit(type, rest);
      if (type === "switch" && this.followSwitch && typeof event.persona === "string") {
        this.switchPersona(event.persona).catch(() => {}); // a failure is said by the error event
      }
    }

    // A new conversation with persona `key` (GET /personas lists them): this one ends, the next
    // starts (the microphone asked for again). Resolves to the new session's id.
    async switchPersona(key) {
      this.stop("switched", "connecting");
      this.persona = key;
      return this.connect();
    }

    // Ask the server for a new conversation with persona `key`: it answers with a "switch" event
    // (an unknown key, with an error event), as when a backend asks (POST /sessions/{id}/persona).
    requestPersona(key) { this._send({ type: "persona", persona: key }); }

    _send(message) {
      if (this.channel && this.channel.readyState === "open") this.channel.send(JSON.stringify(message));
      else if (this.pc) this._outbox.push(message); // sent as soon as the channel opens
      else throw new Error("not connected: call connect() first");
    }

    // The avatar says `text` word for word (interrupt: false leaves it alone if it is busy).
    say(text, { interrupt = true } = {}) { this._send({ type: "say", text, interrupt }); }

    // `text` as if the user had typed it: the avatar answers it.
    ask(text) { this._send({ type: "text", text }); }

    interrupt() { this._send({ type: "interrupt" }); }

    // The face was touched at (x, y), in 0..1 of the video frame: the server finds the part of the
    // face there and the avatar reacts (a "touch" event {zone} says so; off the face, nothing).
    touch(x, y) { this._send({ type: "touch", x, y }); }

    mute(muted = true) {
      if (this.mic) for (const track of this.mic.getAudioTracks()) track.enabled = !muted;
    }

    stop(reason = "stopped", state = "ended") {
      const peer = this.pc;
      this.pc = null;
      if (this.channel) { this.channel.onclose = null; this.channel = null; }
      if (peer) peer.close();
      if (this.mic) { for (const track of this.mic.getTracks()) track.stop(); this.mic = null; }
      if (this.video) this.video.srcObject = null;
      this._outbox = [];
      const was = this.state;
      this._setState(state);
      if (peer || was === "connecting") this._emit("closed", { reason, session: this.session });
    }
  }

  // The embed iframe for `element`, from its data attributes: data-livehuman-embed (the server;
  // empty: where this script came from) and data-title, data-accent, data-fit… (EMBED_OPTIONS).
  Livehuman.embed = function embed(element, options = {}) {
    const data = element.dataset || {};
    const server = (options.server || data.livehumanEmbed || HOME).replace(/\/+$/, "");
    const query = new URLSearchParams();
    for (const key of EMBED_OPTIONS) {
      const value = key in options ? options[key] : data[key];
      if (value != null && value !== "") query.set(key, String(value));
    }
    if (!query.has("parent")) query.set("parent", global.location.origin);
    const frame = document.createElement("iframe");
    frame.src = `${server}/static/embed.html?${query}${options.token ? `#token=${encodeURIComponent(options.token)}` : ""}`;
    frame.allow = "microphone; autoplay";
    frame.title = options.title || data.title || "livehuman";
    frame.style.cssText = "border:0;width:100%;height:100%;display:block;";
    element.replaceChildren(frame);
    return frame;
  };

  // Where a click at (clientX, clientY) falls in `video`'s own frame, in 0..1 of its width and
  // height, minding object-fit and object-position (cover crops, contain letterboxes); null off it.
  Livehuman.videoPoint = function videoPoint(video, clientX, clientY) {
    const box = video.getBoundingClientRect();
    const width = video.videoWidth, height = video.videoHeight;
    if (!width || !height || !box.width || !box.height) return null;
    const style = getComputedStyle(video);
    let sx = box.width / width, sy = box.height / height; // "fill": stretched both ways
    if (style.objectFit === "cover") sx = sy = Math.max(sx, sy);
    else if (style.objectFit !== "fill") sx = sy = Math.min(sx, sy); // contain (and, near enough, scale-down)
    const [px, py] = style.objectPosition.split(" ").map((v) => (v.endsWith("%") ? parseFloat(v) / 100 : 0.5));
    const left = box.left + (box.width - width * sx) * px, top = box.top + (box.height - height * sy) * py;
    const x = (clientX - left) / (width * sx), y = (clientY - top) / (height * sy);
    return x >= 0 && x <= 1 && y >= 0 && y <= 1 ? { x, y } : null;
  };

  // The look both livehuman pages share: `colours` {accent, background, text} as the custom
  // properties --accent, --background and --text on `root` (a name given empty or not a CSS colour
  // is removed: the page's own colour again; a name not given is kept). Then --on-accent, the
  // text on the accent (white where it reads, else near-black), and light or dark form controls.
  Livehuman.theme = function theme(root, colours = {}) {
    for (const name of ["accent", "background", "text"]) {
      if (!(name in colours)) continue;
      const value = colours[name];
      if (value && CSS.supports("color", value)) root.style.setProperty(`--${name}`, value);
      else root.style.removeProperty(`--${name}`);
    }
    const accent = luminance(root.style.getPropertyValue("--accent"));
    if (accent == null) root.style.removeProperty("--on-accent");
    else root.style.setProperty("--on-accent", (1.05 / (accent + 0.05)) >= 3 ? "#fff" : "#111");
    const background = luminance(root.style.getPropertyValue("--background"));
    root.style.colorScheme = background == null ? "" : background > 0.4 ? "light" : "dark";
  };

  // A CSS colour's relative luminance (0 black … 1 white; null: none or not a colour).
  function luminance(value) {
    value = (value || "").trim();
    if (!value || !CSS.supports("color", value)) return null;
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return null;
    ctx.fillStyle = value; // read back as #rrggbb or rgba(r, g, b, a)
    const css = ctx.fillStyle;
    const rgb = css.startsWith("#") ? [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16))
      : (css.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    if (rgb.length < 3) return null;
    const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  global.Livehuman = Livehuman;
  const mountAll = () => document.querySelectorAll("[data-livehuman-embed]").forEach((el) => {
    if (!el.querySelector("iframe")) Livehuman.embed(el);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})(window);
