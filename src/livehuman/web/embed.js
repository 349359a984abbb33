// The embed page (embed.html): the face alone, themed from its address, e.g.
//   /static/embed.html?title=Ada&name=Ada&accent=%23e0562b&background=%23fff&fit=contain&text=1
// (also color, logo, poster, microphone=0, controls=1, start=LABEL; see docs/embed.md)
// and, with ?parent=ORIGIN, talking with the page that embeds it by postMessage (docs/embed.md).
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const $ = (id) => document.getElementById(id);
  const root = document.querySelector(".embed");
  const video = $("avatar");
  const flag = (name, fallback) => (params.has(name) ? !["0", "false", "no", "off"].includes(params.get(name)) : fallback);
  // Colours are given as CSS colours; anything else is ignored rather than injected (Livehuman.theme:
  // the same custom properties as the main page's; `color` is the text's).
  Livehuman.theme(document.documentElement, {
    accent: params.get("accent"), background: params.get("background"), text: params.get("color") });
  // "cover": head and shoulders, filling the frame; "contain": the whole source, letterboxed.
  const fit = params.get("fit") === "contain" ? "contain" : "cover";
  document.documentElement.style.setProperty("--fit", fit);
  root.dataset.fit = fit;
  const title = params.get("title");
  if (title) { document.title = title; video.setAttribute("aria-label", title); }
  if (params.get("name")) { $("name").append(params.get("name")); $("name").hidden = false; }
  // Images the embedding site names: its logo beside the name, a picture shown before the face starts.
  const image = (value) => { try { return ["https:", "http:"].includes(new URL(value, location.href).protocol) ? value : null; } catch { return null; } };
  if (image(params.get("logo"))) { $("logo").src = params.get("logo"); $("logo").hidden = false; $("name").hidden = false; }
  if (image(params.get("poster"))) video.poster = params.get("poster");
  if (params.get("start")) $("start").textContent = params.get("start");
  const showText = flag("text", false);
  const showControls = flag("controls", false);

  // The embedding page, if it named itself: it gets every event and may send commands.
  let parentOrigin = null;
  try { parentOrigin = params.get("parent") ? new URL(params.get("parent")).origin : null; } catch { parentOrigin = null; }
  const toParent = (message) => {
    if (parentOrigin && window.parent !== window) window.parent.postMessage({ livehuman: message }, parentOrigin);
  };

  const human = new Livehuman({ server: location.origin, video, token: hash.get("token"), microphone: flag("microphone", true) });
  window.livehuman = { human, state: "idle", messages: [], errors: [], session: null }; // for tests and the console

  function showMessage(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  human.on("message", (event) => {
    toParent(event);
    switch (event.type) {
      case "state":
        root.dataset.state = event.state;
        window.livehuman.state = event.state;
        break;
      case "transcript":
        if (event.final) window.livehuman.messages.push({ role: event.role, text: event.text });
        break;
      case "error":
        window.livehuman.errors.push(event.message);
        showMessage(event.message);
        break;
      case "notice":
        showMessage(event.message);
        setTimeout(() => { if ($("message").textContent === event.message) showMessage(""); }, 6000);
        break;
      case "connected":
        window.livehuman.session = event.session;
        $("composer").hidden = !showText;
        $("controls").hidden = !showControls;
        break;
      case "closed":
        $("composer").hidden = true;
        $("controls").hidden = true;
        $("start").textContent = "Start again";
        break;
    }
  });

  async function start() {
    showMessage("");
    try { await human.connect(); } catch { /* said by the error event */ }
  }

  $("start").addEventListener("click", start);
  video.addEventListener("click", (e) => {
    video.play();
    const point = human.channel && human.channel.readyState === "open" && Livehuman.videoPoint(video, e.clientX, e.clientY);
    if (point) human.touch(point.x, point.y); // the face reacts to a click or tap
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    human.ask(text);
    $("text").value = "";
  });
  $("mute").addEventListener("click", () => {
    const muted = $("mute").getAttribute("aria-pressed") !== "true";
    human.mute(muted);
    $("mute").setAttribute("aria-pressed", String(muted));
    $("mute").textContent = muted ? "Unmute" : "Mute";
  });
  $("stop").addEventListener("click", () => human.interrupt());
  $("hangup").addEventListener("click", () => human.stop());

  // Commands from the embedding page: {livehuman: {type: "say"|"ask"|"interrupt"|"touch"|"start"|"stop", text, x, y}}.
  window.addEventListener("message", (e) => {
    if (!parentOrigin || e.source !== window.parent || e.origin !== parentOrigin) return;
    const command = e.data && e.data.livehuman;
    if (!command || typeof command.type !== "string") return;
    try {
      switch (command.type) {
        case "start": start(); break;
        case "stop": human.stop(); break;
        case "say": human.say(String(command.text || ""), { interrupt: command.interrupt !== false }); break;
        case "ask": human.ask(String(command.text || "")); break;
        case "interrupt": human.interrupt(); break;
        case "touch": human.touch(Number(command.x), Number(command.y)); break;
        default: toParent({ type: "error", message: `unknown command ${command.type}` });
      }
    } catch (err) {
      toParent({ type: "error", message: String(err.message || err) });
    }
  });
  toParent({ type: "ready" });
})();
