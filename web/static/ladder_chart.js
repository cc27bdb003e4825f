/* The per-title chart of a job: bitrate (log scale) against SSIM, per rung: its sample
   points, the fixed ladder's point (the profile's bitrate), the chosen point as predicted,
   and the finished rendition as measured. Plain SVG, no charting library. */
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const W = 460, H = 210, PAD = { l: 48, r: 12, t: 12, b: 30 };
  const COLORS = ["#4ea1ff", "#5fd08a", "#f0b44c", "#c58cff", "#ff7b72", "#7ee0e0"];

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text != null) node.textContent = text;
    return node;
  }

  function bounds(rungs, target) {
    const rates = [], scores = [target];
    for (const r of rungs) {
      for (const p of r.points) { rates.push(p.kbps); scores.push(p.ssim); }
      rates.push(r.cap_kbps, r.chosen_kbps);
      if (r.encoded_kbps) rates.push(r.encoded_kbps);
      if (r.measured_ssim != null) scores.push(r.measured_ssim);
      scores.push(r.predicted_ssim);
    }
    const lo = Math.min(...scores), hi = Math.max(...scores);
    const pad = Math.max(0.002, (hi - lo) * 0.08);
    return { x0: Math.log(Math.min(...rates) * 0.85), x1: Math.log(Math.max(...rates) * 1.15),
      y0: lo - pad, y1: Math.min(1, hi + pad) };
  }

  function axes(svg, b, target) {
    const x = (kbps) => PAD.l + (Math.log(kbps) - b.x0) / (b.x1 - b.x0) * (W - PAD.l - PAD.r);
    const y = (ssim) => H - PAD.b - (ssim - b.y0) / (b.y1 - b.y0) * (H - PAD.t - PAD.b);
    svg.append(el("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: "axis" }));
    svg.append(el("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, class: "axis" }));
    for (const kbps of [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]) {
      if (Math.log(kbps) < b.x0 || Math.log(kbps) > b.x1) continue;
      svg.append(el("text", { x: x(kbps), y: H - PAD.b + 13, class: "tick", "text-anchor": "middle" },
        kbps >= 1000 ? `${kbps / 1000}M` : `${kbps}k`));
    }
    for (let i = 0; i <= 4; i += 1) {
      const v = b.y0 + (b.y1 - b.y0) * i / 4;
      svg.append(el("text", { x: PAD.l - 4, y: y(v) + 3, class: "tick", "text-anchor": "end" },
        v.toFixed(3)));
    }
    svg.append(el("text", { x: W - PAD.r, y: H - 3, class: "tick", "text-anchor": "end" },
      "video bitrate (kb/s, log)"));
    svg.append(el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(target), y2: y(target), class: "target" }));
    svg.append(el("text", { x: W - PAD.r, y: y(target) - 3, class: "tick", "text-anchor": "end" },
      `target SSIM ${target}`));
    return { x, y };
  }

  function rungMarks(svg, rung, color, at) {
    const g = el("g", { class: rung.dropped ? "rung dropped" : "rung", "data-profile": rung.profile });
    const points = [...rung.points].sort((a, b) => a.kbps - b.kbps);
    g.append(el("polyline", { points: points.map((p) => `${at.x(p.kbps)},${at.y(p.ssim)}`).join(" "),
      stroke: color, class: "curve" }));
    for (const p of points) {
      g.append(el("circle", { cx: at.x(p.kbps), cy: at.y(p.ssim), r: 2.5, stroke: color, class: "sample" }));
    }
    const fixed = points[points.length - 1];
    g.append(el("rect", { x: at.x(rung.cap_kbps) - 3.5, y: at.y(fixed.ssim) - 3.5, width: 7, height: 7,
      stroke: color, class: "fixed" }, null));
    g.append(el("circle", { cx: at.x(rung.chosen_kbps), cy: at.y(rung.predicted_ssim), r: 4.5,
      fill: color, class: "chosen" }));
    if (rung.measured_ssim != null && rung.encoded_kbps) {
      const cx = at.x(rung.encoded_kbps), cy = at.y(rung.measured_ssim);
      g.append(el("path", { d: `M${cx},${cy - 5}L${cx + 5},${cy}L${cx},${cy + 5}L${cx - 5},${cy}Z`,
        stroke: color, class: "measured" }));
    }
    g.append(el("title", {}, `${rung.profile}: ${rung.chosen_kbps} kb/s chosen (fixed ${rung.cap_kbps}), ` +
      `predicted SSIM ${rung.predicted_ssim}` +
      (rung.measured_ssim != null ? `, measured ${rung.measured_ssim}` : "") +
      (rung.dropped ? ` — dropped: ${rung.dropped}` : "")));
    svg.append(g);
  }

  function render(perTitle) {
    const rungs = (perTitle && perTitle.rungs) || [];
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "ladder-chart", role: "img",
      "aria-label": "per-title ladder: bitrate against SSIM per rung" });
    if (!rungs.length) return svg;
    const at = axes(svg, bounds(rungs, perTitle.target_ssim), perTitle.target_ssim);
    rungs.forEach((rung, i) => rungMarks(svg, rung, COLORS[i % COLORS.length], at));
    return svg;
  }

  function legend(perTitle) {
    const list = document.createElement("ul");
    list.className = "ladder-legend";
    (perTitle.rungs || []).forEach((rung, i) => {
      const item = document.createElement("li");
      item.dataset.profile = rung.profile;
      item.style.setProperty("--rung", COLORS[i % COLORS.length]);
      const saved = rung.cap_kbps ? Math.round(100 * (1 - (rung.encoded_kbps || rung.chosen_kbps) / rung.cap_kbps)) : 0;
      item.textContent = rung.dropped
        ? `${rung.profile}: dropped. ${rung.dropped}`
        : `${rung.profile}: ${rung.encoded_kbps || rung.chosen_kbps} kb/s (fixed ${rung.cap_kbps}, ${saved}% fewer bits)` +
          `, SSIM predicted ${rung.predicted_ssim}` +
          (rung.measured_ssim != null ? `, measured ${rung.measured_ssim}` : "") +
          (rung.reencoded ? ", encoded again" : "") + (rung.note ? `. ${rung.note}` : "");
      if (rung.dropped) item.classList.add("dropped");
      list.append(item);
    });
    return list;
  }

  window.ffclusterLadderChart = { render, legend };
})();
