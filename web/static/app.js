/* ffcluster dashboard: REST for state, Socket.IO for live changes, resync on every connect. */
(function () {
  "use strict";

  const CONFIG = window.FFCLUSTER || {};
  const TOKEN_KEY = "ffcluster.token";
  const PAGE = 50;
  const ACTIVE = new Set(["queued", "ingesting", "probing", "analyzing", "encoding"]);
  const TERMINAL = new Set(["done", "failed", "canceled"]);

  const state = {
    token: localStorage.getItem(TOKEN_KEY) || "",
    jobs: new Map(),
    total: 0,
    loaded: 0,
    filter: "all",
    workers: [],
    pendingFetch: new Set(),
  };

  const $ = (id) => document.getElementById(id);

  /* ---------- small helpers ---------- */

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "style") el.style.cssText = value;  // CSSOM: allowed by the CSP
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }

  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    const pad = (v) => String(v).padStart(2, "0");
    return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
  }

  function fmtRate(kbps) {
    if (kbps === null || kbps === undefined) return "–";
    return kbps >= 1000 ? `${(kbps / 1000).toFixed(2)} Mb/s` : `${Math.round(kbps)} kb/s`;
  }

  function fmtNum(v, digits, suffix) {
    return v === null || v === undefined ? "–" : `${Number(v).toFixed(digits)}${suffix}`;
  }

  function fmtAgo(ts) {
    if (!ts) return "never";
    const s = Math.max(0, Date.now() / 1000 - ts);
    if (s < 60) return `${Math.round(s)}s ago`;
    if (s < 3600) return `${Math.round(s / 60)}m ago`;
    return `${Math.round(s / 3600)}h ago`;
  }

  function fmtTime(ts) {
    return ts ? new Date(ts * 1000).toLocaleTimeString() : "";
  }

  function withToken(url) {
    return state.token ? `${url}?token=${encodeURIComponent(state.token)}` : url;
  }

  function outputUrl(job, name) {
    const path = `/api/jobs/${encodeURIComponent(job.id)}/outputs/` +
      name.split("/").map(encodeURIComponent).join("/");
    return withToken(path);
  }

  /* ---------- token ---------- */

  let tokenPrompt = null;

  function askToken(reason) {
    if (tokenPrompt) return tokenPrompt;
    const dialog = $("token-dialog");
    $("token-reason").textContent = reason || "This cluster needs an API token.";
    $("token-input").value = state.token;
    tokenPrompt = new Promise((resolve) => {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        tokenPrompt = null;
        resolve(state.token);
      });
    });
    if (!dialog.open) dialog.showModal();
    return tokenPrompt;
  }

  function setToken(value) {
    state.token = value;
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
    renderAll();
    if (socket && !socket.connected) socket.connect();
  }

  /* ---------- REST ---------- */

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    const headers = new Headers(opts.headers || {});
    if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
    opts.headers = headers;
    const res = await fetch(path, opts);
    if (res.status === 401) {
      await askToken("The API answered 401: enter the cluster's token.");
      return api(path, options);
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new ApiError((body && body.error) || res.statusText, res.status);
    return body;
  }

  async function refreshJobs() {
    const limit = Math.max(PAGE, Math.min(state.loaded, 200));
    const page = await api(`/api/jobs?limit=${limit}`);
    for (const job of page.jobs) putJob(job, true);
    state.total = page.total;
    state.loaded = Math.max(state.loaded, page.jobs.length);
    renderAll();
    return page.jobs;
  }

  async function loadMore() {
    const page = await api(`/api/jobs?offset=${state.loaded}&limit=${PAGE}`);
    for (const job of page.jobs) putJob(job, true);
    state.total = page.total;
    state.loaded += page.jobs.length;
    renderAll();
  }

  function fetchJob(jobId) {
    if (state.pendingFetch.has(jobId)) return;
    state.pendingFetch.add(jobId);
    api(`/api/jobs/${encodeURIComponent(jobId)}`)
      .then((job) => { putJob(job, true); renderJob(job.id); renderStats(); })
      .catch(() => {})
      .finally(() => state.pendingFetch.delete(jobId));
  }

  /* ---------- job state ---------- */

  function putJob(job, authoritative) {
    const current = state.jobs.get(job.id);
    if (current && !authoritative && (job.updated_at || 0) < (current.updated_at || 0)) return false;
    state.jobs.set(job.id, job);
    return true;
  }

  function onJobEvent(payload) {
    const job = payload && payload.job;
    if (!job) return;
    const isNew = !state.jobs.has(job.id);
    if (putJob(job, false)) {
      if (isNew) { state.total += 1; state.loaded += 1; }
      // Progress goes to a job's own room: join it for every unfinished job that appears.
      if (isNew && !TERMINAL.has(job.state) && socket && socket.connected) {
        socket.emit("subscribe", { job_id: job.id });
      }
      renderJob(job.id);
      renderStats();
    }
  }

  function onProgress(p) {
    const job = state.jobs.get(p.job_id);
    // Version 2 lists every rendition of one FFmpeg; a version-1 worker (mid-upgrade) sends one.
    const updates = p.renditions || (p.profile ? [p] : []);
    const renditions = updates.map((u) => job && job.renditions.find((r) => r.profile === u.profile));
    if (!job || renditions.some((r) => !r)) { fetchJob(p.job_id); return; }
    if (TERMINAL.has(job.state)) return;
    const card = document.querySelector(`.job[data-job-id="${CSS.escape(job.id)}"]`);
    let rerender = !card;
    updates.forEach((u, i) => {
      const rendition = renditions[i];
      if (TERMINAL.has(rendition.state)) return;
      for (const key of ["percent", "fps", "bitrate_kbps", "speed", "eta_s"]) {
        if (key in u) rendition[key] = u[key];
      }
      if (rendition.state === "queued") rendition.state = "encoding";
      const row = card && card.querySelector(`.rendition[data-profile="${CSS.escape(u.profile)}"]`);
      if (row) row.replaceWith(renditionRow(job, rendition));
      else rerender = true;
    });
    if (job.state === "queued" || job.state === "probing") job.state = "encoding";
    const n = job.renditions.length || 1;
    job.percent = Math.round(job.renditions.reduce((a, r) => a + (r.percent || 0), 0) / n * 10) / 10;
    if (rerender) { renderJob(job.id); return; }
    card.dataset.state = job.state;
    card.querySelector(".job-percent").textContent = `${job.percent.toFixed(1)}%`;
    const pill = card.querySelector(".job-state");
    pill.textContent = job.state;
    pill.dataset.state = job.state;
  }

  /* ---------- rendering: jobs ---------- */

  function fallbackText(r) {
    if (!r.fallbacks || !r.fallbacks.length) return "";
    const failed = r.fallbacks
      .map((f) => `${f.codec} failed: ${String(f.error || "").replace(/[.\s]+$/, "")}`).join("; ");
    return r.codec ? `${failed}, used ${r.codec}` : failed;
  }

  function codecLabel(codec) {
    return { h264: "H.264", hevc: "HEVC", av1: "AV1" }[codec] || String(codec || "");
  }

  function renditionRow(job, r) {
    const pct = Math.max(0, Math.min(100, Number(r.percent) || 0));
    const size = [r.width && r.height ? `${r.width}×${r.height}` : "",
      codecLabel(r.video_codec || "h264")].filter(Boolean).join(" · ");
    const codec = r.passthrough ? "copy" : (r.codec || "–");
    const fallback = fallbackText(r);
    const live = r.state === "encoding";
    return h("div", {
      class: `rendition state-${r.state}`,
      dataset: { profile: r.profile, percent: pct.toFixed(1), state: r.state,
        videoCodec: r.video_codec || "h264" },
    },
      h("div", { class: "r-name" }, h("b", {}, r.profile), h("small", {}, size)),
      h("div", { class: "bar", title: `${pct.toFixed(1)}%` },
        h("div", { class: "fill", style: `width:${pct}%` }),
        h("span", { class: "bar-label" }, `${pct.toFixed(1)}%`)),
      h("div", { class: "r-stats" },
        h("span", { title: "frames per second" }, live || r.fps ? fmtNum(r.fps, 1, " fps") : "–"),
        h("span", { title: "bitrate" }, fmtRate(r.bitrate_kbps)),
        h("span", { title: "speed (× real time)" }, fmtNum(r.speed, 2, "×")),
        h("span", { title: live ? "time left" : "encode time" }, live ? `ETA ${fmtDuration(r.eta_s)}`
          : r.state === "done" && r.started_at && r.finished_at
            ? `took ${fmtDuration(r.finished_at - r.started_at)}` : r.state)),
      h("div", { class: "r-codec", title: r.worker ? `on ${r.worker}` : "" },
        h("code", {}, codec), r.attempts > 1 ? h("small", {}, ` try ${r.attempts}`) : null,
        r.chunks ? h("small", { class: "chunks", title: "split-and-stitch: slices encoded / total" },
          ` ${(r.chunk_percent || []).filter((p) => p >= 100).length}/${r.chunks} chunks`) : null),
      h("div", { class: "r-actions" },
        r.state === "done" && r.output
          ? h("a", { class: "download", href: outputUrl(job, r.output), download: r.output },
            `⬇ ${r.size_bytes ? fmtBytes(r.size_bytes) : "download"}`)
          : null),
      fallback ? h("div", { class: "fallback" }, fallback) : null,
      r.ssim != null ? h("div", { class: "quality", title: "against the source" },
        `SSIM ${Number(r.ssim).toFixed(4)} · PSNR ${Number(r.psnr).toFixed(1)} dB`) : null,
      r.error && r.state === "failed" ? h("div", { class: "r-error" }, r.error) : null);
  }

  function sourceLine(job) {
    const s = job.source;
    const parts = [];
    if (s) {
      parts.push(`${s.width}×${s.height}`, s.video_codec, `${Number(s.fps).toFixed(2)} fps`,
        fmtDuration(s.duration));
      if (s.bitrate_kbps) parts.push(fmtRate(s.bitrate_kbps));
      parts.push(s.has_audio ? `audio ${s.audio_codec || ""}`.trim() : "no audio");
    }
    parts.push(fmtBytes(job.size_bytes));
    return parts.filter(Boolean).join(" · ");
  }

  async function act(button, method, path) {
    button.disabled = true;
    try {
      const job = await api(path, { method });
      putJob(job, true);
      renderJob(job.id);
      renderStats();
    } catch (err) {
      button.disabled = false;
      button.title = err.message;
      button.classList.add("error");
    }
  }

  function playerSources(job) {
    const base = `/api/jobs/${encodeURIComponent(job.id)}/outputs/`;
    return {
      hls: base + job.master_playlist,
      dash: job.dash_manifest ? base + job.dash_manifest : null,
      renditions: job.renditions.filter((r) => r.playlist).map((r) => ({
        profile: r.profile, label: `${r.profile} (${r.video_codec}, ${r.width}x${r.height})`,
      })),
    };
  }

  function pendingText(job) {
    if (job.state === "ingesting") {
      const total = job.ingest_total ? ` of ${fmtBytes(job.ingest_total)}` : "";
      return `Fetching the source from its URL: ${fmtBytes(job.ingest_bytes || 0)}${total}…`;
    }
    if (job.state === "analyzing") {
      return "Sampling the source to choose each rung's bitrate…";
    }
    if (job.state === "queued" || job.state === "probing") {
      return job.source_url && !job.ingest_bytes ? "Waiting for a worker to fetch the source…"
        : "Waiting for the probe to plan renditions…";
    }
    return "No renditions.";
  }

  function jobCard(job) {
    const poster = job.poster
      ? h("img", { class: "poster", src: outputUrl(job, job.poster), alt: "", loading: "lazy" })
      : h("div", { class: "poster placeholder" }, job.state === "done" ? "no poster" : "▶");
    const actions = h("div", { class: "job-actions" });
    if (!TERMINAL.has(job.state)) {
      actions.append(h("button", {
        type: "button", class: "cancel", onclick: (e) => act(e.currentTarget, "DELETE",
          `/api/jobs/${encodeURIComponent(job.id)}`),
      }, "Cancel"));
    }
    if (job.state === "done" && job.master_playlist) {
      actions.append(h("button", {
        type: "button", class: "play", title: "Play the ladder in the page (HLS or DASH)",
        onclick: () => window.ffclusterPlayer.open(playerSources(state.jobs.get(job.id) || job),
          state.token, job.source_name),
      }, "▶ Play"));
    }
    if (job.state === "failed" || job.state === "canceled") {
      actions.append(h("button", {
        type: "button", class: "retry", onclick: (e) => act(e.currentTarget, "POST",
          `/api/jobs/${encodeURIComponent(job.id)}/retry`),
      }, "Retry"));
    }
    const renditions = job.renditions.length
      ? job.renditions.map((r) => renditionRow(job, r))
      : [h("div", { class: "rendition-pending" }, pendingText(job))];
    return h("article", { class: `job state-${job.state}`, dataset: { jobId: job.id, state: job.state } },
      poster,
      h("div", { class: "job-body" },
        h("div", { class: "job-head" },
          h("span", { class: "job-state", dataset: { state: job.state } }, job.state),
          h("span", { class: "job-name", title: job.source_name }, job.source_name),
          job.mode === "passthrough" ? h("span", { class: "tag" }, "passthrough") : null,
          h("span", { class: "job-percent" }, `${Number(job.percent || 0).toFixed(1)}%`),
          actions),
        h("div", { class: "job-meta" },
          h("code", { title: "job id" }, job.id), h("span", {}, fmtTime(job.created_at)),
          h("span", {}, sourceLine(job))),
        job.error ? h("div", { class: "job-error" }, job.error) : null,
        h("div", { class: "renditions" }, renditions),
        perTitlePanel(job)));
  }

  function perTitlePanel(job) {
    const analysis = job.per_title;
    if (!analysis) return null;
    const chart = window.ffclusterLadderChart;
    const head = analysis.note ? analysis.note
      : `Per-title ladder for SSIM ${analysis.target_ssim}: sampled ${analysis.windows.length} ` +
        `stretch(es) with ${analysis.encoder} ${analysis.preset} in ${fmtDuration(analysis.seconds)}`;
    return h("details", { class: "per-title", open: "" },
      h("summary", {}, head),
      analysis.rungs.length ? chart.render(analysis) : null,
      analysis.rungs.length ? chart.legend(analysis) : null);
  }

  function visible(job) {
    if (state.filter === "active") return ACTIVE.has(job.state);
    if (state.filter === "done") return job.state === "done";
    if (state.filter === "failed") return job.state === "failed" || job.state === "canceled";
    return true;
  }

  function sortedJobs() {
    return [...state.jobs.values()].sort((a, b) => b.created_at - a.created_at);
  }

  function renderJob(jobId) {
    const job = state.jobs.get(jobId);
    const container = $("jobs");
    const existing = container.querySelector(`.job[data-job-id="${CSS.escape(jobId)}"]`);
    if (!job) { if (existing) existing.remove(); return; }
    const card = jobCard(job);
    card.hidden = !visible(job);
    if (existing) { redrawCard(existing, card); return; }
    const next = sortedJobs().find((other) => other.created_at < job.created_at &&
      container.querySelector(`.job[data-job-id="${CSS.escape(other.id)}"]`));
    const anchor = next && container.querySelector(`.job[data-job-id="${CSS.escape(next.id)}"]`);
    container.insertBefore(card, anchor || $("load-more-anchor"));
    $("jobs-empty").hidden = true;
  }

  // Every job event redraws its card. Its buttons stay the same nodes, in the page, when the
  // new card has the same ones (and none waits on a request): Chromium drops a click whose
  // button left the page between press and release, even for a moment, so a redraw between
  // the two swallowed the click. Everything else in the card is replaced around them.
  function redrawCard(oldCard, card) {
    const kept = oldCard.querySelector(".job-actions");
    const fresh = card.querySelector(".job-actions");
    const kinds = (el) => [...el.children].map((b) => b.className.replace(" error", "")).join();
    if (!kept || !fresh || kinds(kept) !== kinds(fresh) || kept.querySelector(":disabled")) {
      oldCard.replaceWith(card);
      return;
    }
    replaceAround(oldCard, card, kept, fresh);
  }

  // Make `old` what `fresh` is while `keep` (inside `old`) never leaves the page: attributes
  // copied, every child replaced but the one on the way to `keep`, which is done alike.
  function replaceAround(old, fresh, keep, freshKeep) {
    if (old === keep) return;
    for (const { name } of [...old.attributes]) if (!fresh.hasAttribute(name)) old.removeAttribute(name);
    for (const { name, value } of [...fresh.attributes]) old.setAttribute(name, value);
    old.hidden = fresh.hidden;
    const oldPath = [...old.children].find((c) => c.contains(keep));
    const freshPath = [...fresh.children].find((c) => c.contains(freshKeep));
    replaceAround(oldPath, freshPath, keep, freshKeep);
    for (const child of [...old.childNodes]) if (child !== oldPath) child.remove();
    let before = true;
    for (const child of [...fresh.childNodes]) {
      if (child === freshPath) before = false;
      else if (before) old.insertBefore(child, oldPath);
      else old.appendChild(child);
    }
  }

  function renderJobs() {
    const container = $("jobs");
    for (const el of container.querySelectorAll(".job")) el.remove();
    const fragment = document.createDocumentFragment();
    for (const job of sortedJobs()) {
      const card = jobCard(job);
      card.hidden = !visible(job);
      fragment.append(card);
    }
    container.insertBefore(fragment, $("load-more-anchor"));
    $("jobs-empty").hidden = state.jobs.size > 0;
    $("load-more").hidden = state.loaded >= state.total;
  }

  function renderStats() {
    let active = 0, queued = 0, done = 0, failed = 0;
    for (const job of state.jobs.values()) {
      if (job.state === "queued") queued += 1;
      else if (ACTIVE.has(job.state)) active += 1;
      else if (job.state === "done") done += 1;
      else failed += 1;
    }
    $("stat-active").textContent = active;
    $("stat-queued").textContent = queued;
    $("stat-done").textContent = done;
    $("stat-failed").textContent = failed;
    $("jobs-count").textContent = state.total ? `${state.jobs.size} of ${state.total}` : "";
    $("load-more").hidden = state.loaded >= state.total;
  }

  /* ---------- rendering: workers ---------- */

  function workerCard(w) {
    const busy = (w.tasks || []).length;
    const failures = Object.entries(w.hw_failures || {});
    return h("div", {
      class: `worker ${w.online ? "online" : "offline"}`,
      dataset: { hostname: w.hostname, online: String(!!w.online) },
    },
      h("div", { class: "w-head" },
        h("span", { class: "dot", title: w.online ? "online" : "offline" }),
        h("span", { class: "w-name", title: w.hostname }, w.hostname),
        h("span", { class: `tag ${w.gpu ? "gpu" : "cpu"}` }, w.gpu ? "GPU" : "CPU"),
        h("span", { class: "w-load" }, w.online ? `${busy}/${w.concurrency}` : "offline")),
      h("div", { class: "w-encoders" },
        (w.encoders || []).map((e) => h("code", { class: "chip" }, e))),
      busy ? h("ul", { class: "w-tasks" }, w.tasks.map((t) => h("li", {}, t))) : null,
      failures.length
        ? h("div", { class: "w-fail" }, failures.map(([c, e]) => `${c}: ${e}`).join("; ")) : null,
      h("div", { class: "w-meta" },
        h("span", { class: "ago", dataset: { ts: w.last_seen } }, fmtAgo(w.last_seen)),
        w.ffmpeg_version ? h("span", {}, `ffmpeg ${w.ffmpeg_version}`) : null,
        (w.queues || []).length ? h("span", {}, `queues ${w.queues.join(",")}`) : null));
  }

  function renderWorkers(workers) {
    state.workers = workers || [];
    const container = $("workers");
    container.replaceChildren(...(state.workers.length
      ? state.workers.map(workerCard)
      : [h("p", { class: "empty" }, "No worker has announced itself yet.")]));
    const online = state.workers.filter((w) => w.online);
    const gpus = online.filter((w) => w.gpu).length;
    $("stat-workers").textContent = online.length;
    $("stat-gpu").textContent = gpus ? `(${gpus} GPU)` : "";
    $("workers-count").textContent = state.workers.length ? `${online.length} online` : "";
  }

  function renderAll() {
    renderJobs();
    renderStats();
  }

  /* ---------- uploads ---------- */

  function selectedProfiles() {
    const boxes = [...document.querySelectorAll("#profile-choices input[type=checkbox]")];
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    return chosen.length === boxes.length ? [] : chosen;
  }

  function uploadMetadata(file) {
    const metadata = { filename: file.name, mode: $("mode-select").value,
      ladder: $("ladder-select").value };
    const profiles = selectedProfiles();
    if (profiles.length) metadata.profiles = profiles.join(",");
    const target = $("target-ssim").value.trim();
    if (metadata.ladder === "per-title" && target) metadata.target_ssim = target;
    return metadata;
  }

  function errorSentence(err) {
    const response = err && err.originalResponse;
    if (!response) return "network error; drop the file again to resume";
    try { return JSON.parse(response.getBody()).error; } catch (e) { return `failed (${response.getStatus()})`; }
  }

  /* Resumable (tus) upload: the bytes go in PATCHes of CONFIG.uploadChunkMb; after a dropped
     connection tus-js-client retries from the server's offset, and after a page reload the
     same file dropped again resumes (its upload URL is remembered in localStorage). */
  function uploadFile(file) {
    const bar = h("div", { class: "fill" });
    const status = h("span", { class: "u-status" }, "starting");
    const row = h("li", { class: "upload" }, h("span", { class: "u-name" }, file.name),
      h("div", { class: "bar" }, bar), status);
    $("uploads").prepend(row);
    if (CONFIG.maxUploadMb && file.size > CONFIG.maxUploadMb * 1048576) {
      row.classList.add("error");
      status.textContent = `larger than ${CONFIG.maxUploadMb} MiB`;
      return;
    }
    const started = performance.now();
    let jobId = null;
    const upload = new window.tus.Upload(file, {
      endpoint: "/api/uploads",
      chunkSize: (CONFIG.uploadChunkMb || 64) * 1048576,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: uploadMetadata(file),
      headers: state.token ? { Authorization: `Bearer ${state.token}` } : {},
      removeFingerprintOnSuccess: true,
      onAfterResponse: (_req, res) => { jobId = res.getHeader("FFcluster-Job-Id") || jobId; },
      onProgress: (sent, total) => {
        const pct = (100 * sent) / total;
        const rate = sent / Math.max(0.001, (performance.now() - started) / 1000);
        bar.style.width = `${pct}%`;
        status.textContent = `${pct.toFixed(0)}% · ${fmtBytes(rate)}/s`;
      },
      onError: (err) => {
        if (err.originalResponse && err.originalResponse.getStatus() === 401) {
          row.remove();
          askToken("Uploading needs the cluster's token.").then(() => uploadFile(file));
          return;
        }
        row.classList.add("error");
        status.textContent = errorSentence(err);
      },
      onSuccess: () => {
        bar.style.width = "100%";
        row.classList.add("done");
        status.textContent = jobId ? `queued as ${jobId}` : "uploaded";
        if (jobId) {
          api(`/api/jobs/${encodeURIComponent(jobId)}`).then((job) => onJobEvent({ job }));
          if (socket && socket.connected) socket.emit("subscribe", { job_id: jobId });
        }
        setTimeout(() => row.remove(), 5000);
      },
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        status.textContent = "resuming";
      }
      upload.start();
    });
  }

  function setupUploads() {
    const zone = $("dropzone");
    const input = $("file-input");
    const choices = $("profile-choices");
    const codecs = CONFIG.profileCodecs || {};
    for (const name of CONFIG.profiles || []) {
      const codec = codecs[name] || "h264";
      choices.append(h("label", { class: "chip-check", title: `${name}: ${codecLabel(codec)}` },
        h("input", { type: "checkbox", value: name, checked: true }), name,
        codec !== "h264" ? h("small", { class: "codec-tag" }, ` ${codecLabel(codec)}`) : null));
    }
    $("upload-hint").textContent = CONFIG.maxUploadMb ? `up to ${CONFIG.maxUploadMb} MiB each` : "";
    input.addEventListener("change", () => { [...input.files].forEach(uploadFile); input.value = ""; });
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
    }
    for (const type of ["dragleave", "drop"]) {
      zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
    }
    zone.addEventListener("drop", (e) => [...(e.dataTransfer.files || [])].forEach(uploadFile));
  }

  /* ---------- connection ---------- */

  const BADGE_TEXT = { online: "Online", reconnecting: "Reconnecting", offline: "Offline" };

  function setBadge(status, detail) {
    const badge = $("conn-badge");
    badge.dataset.status = status;
    badge.textContent = BADGE_TEXT[status];
    badge.title = detail || "Live connection";
  }

  let socket = null;

  function resubscribe() {
    for (const job of state.jobs.values()) {
      if (!TERMINAL.has(job.state)) socket.emit("subscribe", { job_id: job.id });
    }
  }

  function connect() {
    socket = io({ auth: (cb) => cb({ token: state.token }), reconnectionDelayMax: 5000 });
    socket.on("connect", () => {
      setBadge("online", `connected via ${socket.io.engine.transport.name}`);
      refreshJobs().then(resubscribe).catch(() => {});
    });
    socket.on("disconnect", (reason) => {
      setBadge(reason === "io client disconnect" ? "offline" : "reconnecting", reason);
    });
    socket.on("connect_error", (err) => {
      if (err && err.message === "unauthorized") {
        setBadge("offline", "the token was refused");
        askToken("The live connection needs the cluster's token.").then(() => socket.connect());
      } else if (!socket.active) {
        setBadge("offline", err && err.message);
      }
    });
    socket.io.on("reconnect_attempt", (attempt) => {
      setBadge(attempt > 5 ? "offline" : "reconnecting", `reconnect attempt ${attempt}`);
    });
    socket.io.on("reconnect_failed", () => setBadge("offline", "gave up reconnecting"));
    socket.on("job", onJobEvent);
    socket.on("progress", onProgress);
    socket.on("workers", (payload) => renderWorkers(payload.workers));
    socket.on("redis", (payload) => {
      if (!payload.reachable) {
        setBadge("reconnecting", "the server lost its Redis: live updates paused");
        return;
      }
      setBadge("online", "the server reached Redis again");
      refreshJobs().then(resubscribe).catch(() => {});  // events sent meanwhile were lost
    });
  }

  /* ---------- start ---------- */

  function start() {
    const jobs = $("jobs");
    jobs.append(h("span", { id: "load-more-anchor", hidden: true }));
    if (CONFIG.flowerUrl) {
      const link = $("flower-link");
      link.href = CONFIG.flowerUrl;
      link.hidden = false;
    }
    for (const button of document.querySelectorAll("#filters button")) {
      button.addEventListener("click", () => {
        state.filter = button.dataset.filter;
        for (const b of document.querySelectorAll("#filters button")) b.classList.toggle("active", b === button);
        renderJobs();
      });
    }
    $("load-more").addEventListener("click", () => loadMore().catch(() => {}));
    $("token-button").addEventListener("click", () => askToken("Set or change the API token."));
    $("token-form").addEventListener("submit", () => setToken($("token-input").value.trim()));
    $("token-clear").addEventListener("click", () => { setToken(""); $("token-dialog").close(); });
    setupUploads();
    setInterval(() => {
      for (const el of document.querySelectorAll(".worker .ago")) {
        el.textContent = fmtAgo(Number(el.dataset.ts));
      }
    }, 1000);
    api("/api/workers").then((body) => renderWorkers(body.workers)).catch(() => {});
    connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
