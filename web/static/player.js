/* In-page player for finished jobs. HLS through hls.js (or the browser's own HLS), DASH
   through dash.js, loaded the first time DASH is chosen: both read the same CMAF segments.
   A rendition can be pinned (ABR off) to watch one rung; the API token travels as a
   Bearer header on every manifest and segment request. */
(function () {
  "use strict";

  const DASH_SCRIPT = new URL("vendor/dash.mediaplayer.min.js", document.currentScript.src).href;
  let hls = null;
  let dash = null;
  let current = null;  // {sources, token, title}
  let starts = 0;  // bumped by every start, so a late dash.js load knows it is stale
  let dashLoading = null;

  function el(id) { return document.getElementById(id); }

  function stop() {
    if (hls) { hls.destroy(); hls = null; }
    if (dash) { dash.reset(); dash = null; }
    const video = el("player-video");
    video.pause();
    video.removeAttribute("src");
    video.load();
  }

  function fail(message) { el("player-status").textContent = message; }

  function loadDashScript() {
    if (window.dashjs) return Promise.resolve();
    if (!dashLoading) {
      dashLoading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = DASH_SCRIPT;
        script.onload = resolve;
        script.onerror = () => { dashLoading = null; reject(new Error("dash.js did not load")); };
        document.head.append(script);
      });
    }
    return dashLoading;
  }

  function playHls(url, token, rendition) {
    const video = el("player-video");
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        autoStartLoad: false,  // a pinned rendition is chosen before anything is buffered
        xhrSetup: (xhr) => { if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`); },
      });
      hls.on(window.Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) fail(`Playback failed: ${data.details}`);
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
        if (rendition) {
          const index = hls.levels.findIndex((l) => String(l.url).includes(`/${rendition}/`));
          if (index < 0) { fail(`This browser cannot play the ${rendition} rendition.`); return; }
          hls.currentLevel = index;  // pinned: ABR stays off until Auto is chosen
        }
        hls.startLoad();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = token ? `${url}?token=${encodeURIComponent(token)}` : url;
    } else {
      fail("This browser cannot play HLS.");
    }
  }

  function playDash(url, token, rendition) {
    const mine = starts;
    loadDashScript().then(() => {
      if (mine !== starts || !current) return;  // another job or format was chosen meanwhile
      dash = window.dashjs.MediaPlayer().create();
      dash.extend("RequestModifier", () => ({
        modifyRequestHeader: (xhr) => {
          if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
          return xhr;
        },
        modifyRequestURL: (requestUrl) => requestUrl,
      }), true);
      if (rendition) {  // keep only the pinned video representation; audio stays
        dash.registerCustomCapabilitiesFilter(
          (representation) => !String(representation.mimeType).startsWith("video")
            || representation.id === rendition);
      }
      dash.on(window.dashjs.MediaPlayer.events.ERROR, (event) => {
        const error = event.error || {};
        fail(`Playback failed: ${error.message || error.code || "DASH error"}`);
      });
      dash.initialize(el("player-video"), url, true);
    }).catch((err) => fail(`Playback failed: ${err.message}`));
  }

  function start() {
    starts += 1;
    stop();
    fail("");
    const { sources, token } = current;
    const format = el("player-format").value;
    const rendition = el("player-rendition").value;
    if (format === "dash" && sources.dash) playDash(sources.dash, token, rendition);
    else playHls(sources.hls, token, rendition);
    el("player-video").play().catch(() => { /* autoplay may be refused; the controls remain */ });
  }

  function fillRenditions(renditions) {
    const select = el("player-rendition");
    select.replaceChildren(new Option("Auto", ""));
    for (const r of renditions) select.append(new Option(r.label, r.profile));
  }

  /* sources: {hls, dash (or null), renditions: [{profile, label}]} */
  function open(sources, token, title) {
    current = { sources, token, title };
    el("player-title").textContent = title;
    el("player-format").value = "hls";
    el("player-format").querySelector("option[value=dash]").disabled = !sources.dash;
    fillRenditions(sources.renditions || []);
    start();
    const dialog = el("player-dialog");
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = el("player-dialog");
    dialog.addEventListener("close", () => { current = null; stop(); });
    el("player-close").addEventListener("click", () => dialog.close());
    el("player-format").addEventListener("change", () => { if (current) start(); });
    el("player-rendition").addEventListener("change", () => { if (current) start(); });
  });

  window.ffclusterPlayer = { open, stop };
})();
