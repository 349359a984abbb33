// The livehuman page: WebRTC to the server (mic up; avatar audio and video down) and the
// "events" data channel for text, transcripts, state and errors, through the JS client that other
// sites embed (livehuman.js, loaded first). No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"), video: $("avatar"), placeholder: $("placeholder"), status: $("status"),
  mute: $("mute"), interrupt: $("interrupt"), hangup: $("hangup"), message: $("message"),
  transcript: $("transcript"), composer: $("composer"), text: $("text"), send: $("send"),
  metrics: $("metrics"), access: $("access"), accessLabel: $("access-label"), token: $("token"),
  persona: $("persona"), mood: $("mood"), intro: $("intro"), title: $("title"), logo: $("logo"),
};

const STATE_LABELS = {
  idle: "not connected", connecting: "connecting…", listening: "listening", thinking: "thinking…",
  speaking: "speaking", ended: "conversation ended", failed: "connection failed",
};
// The server says in the page whether it wants an access token; the one typed is kept for this tab.
const TOKEN_REQUIRED = document.querySelector('meta[name="livehuman-access"]')?.content === "token";
const TOKEN_KEY = "livehuman.token";

// The connection: offer, answer, data channel and events (livehuman.js). `mic`: the microphone
// this page opened for it (null: none, the user types).
// followSwitch: false: a switch to another persona goes through the page's own start (its microphone, its select).
const human = new Livehuman({ server: location.origin, video: ui.video, followSwitch: false });
let mic = null;
const bubbles = new Map(); // "role:item" → the bubble still being written
const placed = new Map(); // "role:item" → its bubble, written or not (emotions arrive after the text)
const lastBubble = {}; // role → the latest bubble (a typed message's emotion names no item)
const early = new Map(); // "role:item" → an emotion that came before its line's first words (a touch's, a greeting's)
let avatarName = "Avatar"; // the persona's name once the server says it
// How the page words an emotion: the user's as read, the avatar's as shown.
const FEELS = { joy: "happy", sadness: "sad", anger: "angry", fear: "afraid", surprise: "surprised", neutral: "calm" };
const SHOWS = { joy: "smiling", concern: "concerned", surprise: "surprised", sadness: "sad", neutral: "" };

// Exposed for tests and for curious people in the console.
window.livehuman = { state: "idle", connection: "new", messages: [], errors: [], tokenRequired: TOKEN_REQUIRED,
  persona: null, personas: [], emotions: [], touches: [] };
// What the connection has received so far, per kind: packets, bytes, decoded frames and (audio) the
// energy of what was heard. Not enumerable, so that the state above stays plain data.
Object.defineProperty(window.livehuman, "receiving", {
  value: async () => {
    const out = {};
    if (human.pc) {
      (await human.pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp") {
          out[s.kind] = { packets: s.packetsReceived, bytes: s.bytesReceived, frames: s.framesDecoded, energy: s.totalAudioEnergy };
        }
      });
    }
    return out;
  },
});

function setState(state) {
  window.livehuman.state = state;
  ui.status.dataset.state = state;
  ui.status.textContent = STATE_LABELS[state] || state;
}

function showMessage(text, kind = "error") {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
  ui.message.hidden = !text;
  if (text && kind === "error") window.livehuman.errors.push(text);
}

function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; } // storage may be blocked
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage blocked: the token lasts as long as the page */ }
  window.livehuman.token = token || null;
}

// Ask for the access token in place of the Start button (`refused`: the last one was wrong).
function askForToken(refused = false) {
  ui.accessLabel.textContent = refused
    ? "The server refused that access token. Enter it again."
    : "This server needs its access token.";
  if (refused) ui.access.dataset.refused = ""; else delete ui.access.dataset.refused;
  ui.access.hidden = false;
  ui.start.hidden = true;
  ui.token.value = "";
  ui.token.focus();
}

function setConnected(connected) {
  ui.mute.disabled = !connected || !mic;
  ui.interrupt.disabled = !connected;
  ui.hangup.disabled = !connected;
  ui.text.disabled = !connected;
  ui.send.disabled = !connected;
  ui.start.disabled = connected;
  ui.placeholder.hidden = connected;
}

function addTranscript(role, text, final, item) {
  const key = item ? `${role}:${item}` : null;
  let bubble = key ? bubbles.get(key) : null;
  if (!bubble) {
    bubble = document.createElement("li");
    bubble.className = `bubble ${role}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : avatarName;
    const body = document.createElement("span");
    body.className = "text";
    body.dir = "auto"; // Arabic or Hebrew reads right to left, punctuation at its end
    bubble.append(who, body);
    ui.transcript.append(bubble);
    if (key) { bubbles.set(key, bubble); placed.set(key, bubble); }
    lastBubble[role] = bubble;
    if (key && early.has(key)) { tagEmotion(bubble, early.get(key)); early.delete(key); }
  }
  bubble.querySelector(".text").textContent = text;
  bubble.classList.toggle("partial", !final);
  if (final) {
    if (key) bubbles.delete(key);
    window.livehuman.messages.push({ role, text });
  }
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function showMetrics(m) {
  if (m.first_frame_ms == null) return;
  const parts = [];
  if (m.asr_final_ms != null) parts.push(`heard ${Math.round(m.asr_final_ms)} ms`);
  if (m.first_audio_ms != null) parts.push(`voice ${Math.round(m.first_audio_ms)} ms`);
  parts.push(`face ${Math.round(m.first_frame_ms)} ms`);
  ui.metrics.textContent = parts.join(" · ");
  ui.metrics.hidden = false;
}

// The persona the server put on for this conversation: its name labels the avatar's lines.
function setPersona(persona) {
  window.livehuman.persona = persona;
  avatarName = persona.name;
  ui.intro.textContent = `Talk with ${persona.name}, live.`;
  if (persona.key && [...ui.persona.options].some((o) => o.value === persona.key)) ui.persona.value = persona.key;
  showTheme(persona.key);
}

// The page's look with a persona (its [page] table under the serve flags, as GET /personas says;
// the server wrote the default persona's into the page): title, logo, colours (Livehuman.theme).
function showTheme(key) {
  const chosen = window.livehuman.personas.find((p) => p.key === key);
  if (!chosen || !chosen.theme) return;
  const theme = chosen.theme;
  Livehuman.theme(document.documentElement, { accent: theme.accent, background: theme.background, text: theme.text });
  document.title = ui.title.textContent = theme.title || "livehuman";
  if (theme.logo) { ui.logo.src = theme.logo; ui.logo.hidden = false; } else { ui.logo.hidden = true; ui.logo.removeAttribute("src"); }
  window.livehuman.theme = key;
}
Livehuman.theme(document.documentElement); // the text on the accent the server's colours need

// An emotion read in the user's turn, or shown by the avatar: a tag on its line (and the user's
// latest in the header).
function showEmotion(event) {
  window.livehuman.emotions.push(event);
  const key = event.item ? `${event.role}:${event.item}` : null;
  if (event.role === "user") {
    ui.mood.textContent = `you seem ${FEELS[event.label] || event.label}`;
    ui.mood.dataset.label = event.label;
    ui.mood.hidden = event.label === "neutral";
  }
  if (key && !placed.has(key)) { early.set(key, event); return; } // its line has not begun: tagged when it does
  const bubble = (key && placed.get(key)) || lastBubble[event.role];
  if (bubble) tagEmotion(bubble, event);
}

function tagEmotion(bubble, event) {
  const word = event.role === "user" ? FEELS[event.label] : SHOWS[event.label];
  let tag = bubble.querySelector(".feel");
  if (!word) { if (tag) tag.remove(); return; }
  if (!tag) {
    tag = document.createElement("span");
    tag.className = "feel";
    bubble.querySelector(".who").append(tag);
  }
  tag.dataset.label = event.label;
  tag.textContent = word;
}

// The personas this server offers: with more than one, the header lets the user choose (and switch).
async function loadPersonas() {
  const headers = {};
  const token = window.livehuman.token || storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let personas = [];
  try {
    const response = await fetch("/personas", { headers });
    if (!response.ok) return;
    personas = (await response.json()).personas || [];
  } catch { return; } // an older server: no list, the default persona
  window.livehuman.personas = personas;
  ui.persona.replaceChildren(...personas.map((p) => new Option(p.name, p.key)));
  ui.persona.hidden = personas.length < 2;
  if (personas.length && !window.livehuman.persona) ui.intro.textContent = `Talk with ${personas[0].name}, live.`;
}

// Every event of the connection (livehuman.js): the server's, and the client's own.
function onEvent(event) {
  switch (event.type) {
    case "transcript": addTranscript(event.role, event.text, event.final, event.item); break;
    case "state": setState(event.state); break;
    case "error": moving = false; if (event.status !== 401) showMessage(pageWording(event)); break; // 401: start() asks again
    case "notice": showNotice(event); break;
    case "connection": window.livehuman.connection = event.state; break;
    case "connected": onConnected(event); break;
    case "ended": showMessage(endedWording(event.reason), "notice"); break;
    case "closed": reset(); if (moving) { ui.start.disabled = true; ui.start.textContent = "Connecting…"; } break;
    case "metrics": showMetrics(event); break;
    case "persona": setPersona(event); break;
    case "switch": switchTo(event.persona); break;
    case "emotion": showEmotion(event); break;
    case "touch": showTouch(event); break;
  }
}

const MOVED = "The machine serving this conversation stopped: connecting again…";
let moving = false; // a cluster lost this conversation's machine; the client is connecting again

const LOST = "The connection to the server was lost: waiting for it to come back…";

function showNotice(event) {
  if (event.code === "moved") moving = true;
  if (event.code === "reconnected") { showMessage(""); setConnected(true); return; }
  if (event.code === "disconnected") {
    setConnected(false); // nothing typed now could be sent; the visitor may still hang up
    ui.hangup.disabled = false;
    ui.start.disabled = true;
  }
  showMessage(event.code === "autoplay" ? AUTOPLAY : event.code === "moved" ? MOVED
    : event.code === "disconnected" ? LOST : event.message, "notice");
}

function onConnected(event) {
  mic = mic || human.mic; // after a move the client opened the microphone itself
  window.livehuman.session = event.session;
  if (moving) { moving = false; showMessage(""); }
  setConnected(true);
}

// A click or tap on the face: a ripple where it landed, and the touch to the server, which
// decides which part of the face it was (and answers with a "touch" event if the face reacts).
let lastTouch = null;
function touchFace(event) {
  if (!human.channel || human.channel.readyState !== "open") return;
  const point = Livehuman.videoPoint(ui.video, event.clientX, event.clientY);
  if (!point) return;
  const wrap = ui.video.parentElement.getBoundingClientRect();
  lastTouch = { left: event.clientX - wrap.left, top: event.clientY - wrap.top };
  const ripple = document.createElement("span");
  ripple.className = "ripple";
  ripple.style.left = `${lastTouch.left}px`;
  ripple.style.top = `${lastTouch.top}px`;
  ripple.addEventListener("animationend", () => ripple.remove());
  ui.video.parentElement.append(ripple);
  human.touch(Number(point.x.toFixed(4)), Number(point.y.toFixed(4)));
}

// The face reacted to a touch: a small label by the finger, fading (the line itself comes as a transcript).
function showTouch(event) {
  window.livehuman.touches.push(event);
  const label = document.createElement("span");
  label.className = "touched pill";
  label.textContent = event.zone;
  const at = lastTouch || { left: ui.video.clientWidth / 2, top: ui.video.clientHeight / 2 };
  label.style.left = `${at.left}px`;
  label.style.top = `${at.top}px`;
  label.addEventListener("animationend", () => label.remove());
  ui.video.parentElement.append(label);
}

const AUTOPLAY = "Click the video to hear the avatar (the browser blocked autoplay).";

// Why the server ended the conversation, as this page words it.
function endedWording(reason) {
  const why = String(reason || "");
  if (why === "server shutdown") return "The server is shutting down, so the conversation ended. Start again later.";
  if (why.startsWith("no audio")) return "The conversation ended: no sound came from your microphone for a while. Start again to talk.";
  return `The conversation ended (${why}). Start again to talk.`;
}

// The client's errors as this page words them.
function pageWording(event) {
  if (event.code === "connection") return "The connection to the server failed. Check your network and start again.";
  const text = String(event.message || "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function send(message) {
  if (human.channel && human.channel.readyState === "open") human.channel.send(JSON.stringify(message));
}

async function getMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("This page cannot use a microphone here (it needs https or localhost). You can still type.", "notice");
    return null;
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (err) {
    const refused = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
    showMessage(refused
      ? "Microphone access was refused. Allow it in the address bar and start again, or type your messages."
      : `No microphone could be opened (${err && err.name ? err.name : err}). You can still type.`, "notice");
    return null;
  }
}

async function start() {
  const token = window.livehuman.token || storedToken();
  if (TOKEN_REQUIRED && !token) { askForToken(); return; }
  showMessage("");
  setState("connecting");
  ui.start.disabled = true;
  if (typeof RTCPeerConnection === "undefined") {
    showMessage("This browser has WebRTC turned off, and a live conversation needs it. Turn it on "
      + "(in Firefox: media.peerconnection.enabled in about:config) and start again.");
    hangup("failed");
    return;
  }
  ui.hangup.disabled = false; // a visitor may give up while it connects
  mic = await getMicrophone();
  human.microphone = mic || false;
  human.token = token || null;
  human.persona = window.livehuman.personas.length > 1 ? ui.persona.value : null;
  window.livehuman.connection = "new";
  human.avatar = window.livehuman.avatar;
  try {
    window.livehuman.session = await human.connect();
  } catch (err) {
    // The client said what went wrong (an error event) and ended the attempt; a refused token is
    // asked for again. An attempt ended meanwhile (hung up, the connection failed) stops quietly.
    if (err && err.status === 401 && human.state === "failed") {
      storeToken(null);
      showMessage("The server refused the access token. Enter the right one to start.");
      askForToken(true);
    }
  }
}

// The page as before a conversation (the client has ended it, or never began).
function reset() {
  window.livehuman.connection = "closed";
  mic = null;
  // What was still being said when the conversation ended is not "in progress" any more.
  for (const bubble of ui.transcript.querySelectorAll(".bubble.partial")) bubble.classList.remove("partial");
  bubbles.clear();
  placed.clear();
  early.clear();
  ui.mood.hidden = true;
  setConnected(false);
  ui.start.textContent = "Start again";
  ui.mute.textContent = "Mute";
  ui.mute.setAttribute("aria-pressed", "false");
  ui.metrics.hidden = true;
}

function hangup(state = "ended") {
  human.stop("hung up", state); // the server ends the session; "closed" resets the page
  if (mic) { for (const t of mic.getTracks()) t.stop(); }
  reset();
  setState(state);
}

human.on("message", onEvent);
ui.start.addEventListener("click", start);
ui.access.addEventListener("submit", (e) => {
  e.preventDefault();
  const token = ui.token.value.trim();
  if (!token) return;
  storeToken(token);
  ui.token.value = "";
  ui.access.hidden = true;
  ui.start.hidden = false;
  loadPersonas().then(start);
});
if (TOKEN_REQUIRED) {
  window.livehuman.token = storedToken();
  if (!window.livehuman.token) askForToken();
}
ui.hangup.addEventListener("click", () => hangup("ended"));
ui.persona.addEventListener("change", () => switchTo(ui.persona.value));
// A new conversation with persona `key`: chosen here, or asked for by the server (a backend's
// POST /sessions/{id}/persona, whose "switch" event names it).
function switchTo(key) {
  const chosen = window.livehuman.personas.find((p) => p.key === key);
  if (!chosen) return;
  ui.persona.value = key;
  ui.intro.textContent = `Talk with ${chosen.name}, live.`;
  showTheme(key);
  if (human.pc) { hangup("ended"); start(); }
}
if (!TOKEN_REQUIRED || storedToken()) loadPersonas();
ui.interrupt.addEventListener("click", () => send({ type: "interrupt" }));
ui.video.addEventListener("click", (e) => { ui.video.play(); touchFace(e); });
ui.mute.addEventListener("click", () => {
  if (!mic) return;
  const muted = ui.mute.getAttribute("aria-pressed") !== "true";
  for (const t of mic.getAudioTracks()) t.enabled = !muted;
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.textContent = muted ? "Unmute" : "Mute";
});
ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  send({ type: "text", text });
  ui.text.value = "";
});
window.addEventListener("beforeunload", () => { if (human.pc) human.stop("the page was closed"); });

// -- Avatars made in the page: upload a photo or a short video, follow its preparation, talk to it.
// Kept apart from the rest: start() only hands the client window.livehuman.avatar.
const UPLOAD_POLL_MS = 500;
const uploadUi = { form: $("upload"), file: $("upload-file"), bar: $("upload-progress"), status: $("upload-status"),
  clear: $("upload-clear") };
window.livehuman.avatar = null; // the uploaded avatar the next conversation uses, once it is ready
window.livehuman.upload = null; // the latest upload's state as the server reports it

function showUpload(text, kind = "") {
  uploadUi.status.textContent = text;
  uploadUi.status.dataset.kind = kind;
}

function uploadHeaders(extra = {}) {
  const token = window.livehuman.token || storedToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function uploadAvatar(file) {
  if (TOKEN_REQUIRED && !(window.livehuman.token || storedToken())) { askForToken(); return; }
  uploadUi.file.disabled = true;
  ui.start.disabled = true;
  uploadUi.bar.hidden = false;
  uploadUi.bar.value = 0;
  showUpload(`Uploading ${file.type.startsWith("video") ? "the video" : "the photo"}…`);
  try {
    const response = await fetch("/avatars", { method: "POST", headers: uploadHeaders({ "Content-Type": file.type || "application/octet-stream" }), body: file });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 401) { storeToken(null); askForToken(true); throw new Error("the server refused the access token"); }
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
    await followUpload(answer.name);
  } catch (err) {
    uploadUi.bar.hidden = true;
    window.livehuman.upload = { state: "failed", error: String(err.message || err) };
    showUpload(`Upload refused: ${err.message || err}`, "error");
    window.livehuman.errors.push(`upload: ${err.message || err}`);
  } finally {
    uploadUi.file.disabled = false;
    uploadUi.file.value = "";
    ui.start.disabled = !!human.pc;
  }
}

async function followUpload(name) {
  for (;;) {
    const response = await fetch(`/avatars/${encodeURIComponent(name)}`, { headers: uploadHeaders() });
    const report = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(report.error || `the server answered ${response.status}`);
    window.livehuman.upload = report;
    uploadUi.bar.value = Math.round(100 * (report.progress || 0));
    if (report.state === "failed") throw new Error(report.error || "the face could not be prepared");
    if (report.state === "ready") {
      window.livehuman.avatar = name;
      uploadUi.clear.hidden = false;
      uploadUi.bar.value = 100;
      showUpload("Your face is ready: start the conversation to talk with it.", "done");
      return;
    }
    const eta = report.eta_s != null ? ` · about ${Math.max(1, Math.round(report.eta_s))} s left` : "";
    showUpload(`Preparing the face… ${uploadUi.bar.value} %${eta}`);
    await new Promise((resolve) => setTimeout(resolve, UPLOAD_POLL_MS));
  }
}

// The server says in the page whether it takes uploads (`serve --no-uploads`: no control).
uploadUi.form.hidden = document.querySelector('meta[name="livehuman-uploads"]')?.content === "off";
uploadUi.form.addEventListener("submit", (e) => e.preventDefault());
uploadUi.clear.addEventListener("click", () => {
  window.livehuman.avatar = null;
  uploadUi.clear.hidden = true;
  uploadUi.bar.hidden = true;
  showUpload("");
});
uploadUi.file.addEventListener("change", () => { if (uploadUi.file.files.length) uploadAvatar(uploadUi.file.files[0]); });
