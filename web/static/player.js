/* In-page HLS player for finished jobs: hls.js over Media Source Extensions, or the
   browser's own HLS support where it has one. The API token travels as a Bearer header. */
(function () {
  "use strict";

  let hls = null;

  function stop() {
    if (hls) { hls.destroy(); hls = null; }
    const video = document.getElementById("player-video");
    video.pause();
    video.removeAttribute("src");
    video.load();
  }

  function open(url, token, title) {
    const dialog = document.getElementById("player-dialog");
    const video = document.getElementById("player-video");
    const status = document.getElementById("player-status");
    document.getElementById("player-title").textContent = title;
    status.textContent = "";
    stop();
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        xhrSetup: (xhr) => { if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`); },
      });
      hls.on(window.Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) status.textContent = `Playback failed: ${data.details}`;
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = token ? `${url}?token=${encodeURIComponent(token)}` : url;
    } else {
      status.textContent = "This browser cannot play HLS.";
    }
    video.play().catch(() => { /* autoplay may be refused; the controls remain */ });
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.getElementById("player-dialog");
    dialog.addEventListener("close", stop);
    document.getElementById("player-close").addEventListener("click", () => dialog.close());
  });

  window.ffclusterPlayer = { open, stop };
})();
