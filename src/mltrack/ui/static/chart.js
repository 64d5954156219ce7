// mltrack UI: a small canvas chart (lines with smoothing, log scale and hover values; scatter).
// Series come downsampled from /ui-api/series (first, min, max and last point per bucket).
"use strict";

var PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#6e7781"];

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
  var err = (hi - lo) / count / step;
  if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
  var ticks = [];
  for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

function formatNumber(v) {
  if (v === null || v === undefined || !isFinite(v)) return "—";
  var a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1e4) / 1e4);
}

function formatX(v, mode) {
  if (mode === "time") return new Date(v).toISOString().slice(11, 19);
  return formatNumber(v);
}

function smooth(points, weight) {
  if (!weight) return points;
  var out = [], last = null, debias = 0;
  for (var i = 0; i < points.length; i++) {
    var y = points[i][1];
    if (y === null) { out.push(points[i]); continue; }
    last = last === null ? 0 : last;
    last = last * weight + (1 - weight) * y;
    debias = debias * weight + (1 - weight);
    out.push([points[i][0], last / debias]);
  }
  return out;
}

function Plot(canvas, tooltip) {
  this.canvas = canvas;
  this.tooltip = tooltip;
  this.series = [];
  this.mode = "step";
  this.log = false;
  this.scatter = false;
  this.xLabels = null;
  var self = this;
  canvas.addEventListener("mousemove", function (e) { self.hover(e.offsetX); });
  canvas.addEventListener("mouseleave", function () { self.hover(null); });
  canvas.addEventListener("keydown", function (e) {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    e.preventDefault();
    var w = self.frame ? self.frame.w : 0;
    self.cursor = Math.max(0, Math.min(w, (self.cursor === undefined ? w / 2 : self.cursor) + (e.key === "ArrowLeft" ? -10 : 10)));
    self.hover(self.cursor + (self.frame ? self.frame.left : 0));
  });
  window.addEventListener("resize", function () { self.draw(); });
}

Plot.prototype.ys = function (y) { return this.log ? (y > 0 ? Math.log10(y) : null) : y; };

Plot.prototype.bounds = function () {
  var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (var s = 0; s < this.series.length; s++) {
    var pts = this.series[s].shown;
    for (var i = 0; i < pts.length; i++) {
      var y = this.ys(pts[i][1]);
      if (y === null || !isFinite(y)) continue;
      if (pts[i][0] < x0) x0 = pts[i][0];
      if (pts[i][0] > x1) x1 = pts[i][0];
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x0 === Infinity) return null;
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  var pad = (y1 - y0) * 0.05;
  var xpad = this.scatter ? (x1 - x0) * 0.05 : 0;
  return { x0: x0 - xpad, x1: x1 + xpad, y0: y0 - pad, y1: y1 + pad };
};

Plot.prototype.draw = function () {
  var canvas = this.canvas, ratio = window.devicePixelRatio || 1;
  var width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  var ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  var fg = cssColor("--fg"), muted = cssColor("--muted"), line = cssColor("--line");
  ctx.font = "12px system-ui, sans-serif";
  var b = this.bounds();
  if (!b) { ctx.fillStyle = muted; ctx.fillText("No data", 20, 30); return; }
  var left = 64, right = 16, top = 12, bottom = 36;
  var w = width - left - right, h = height - top - bottom;
  this.frame = { left: left, top: top, w: w, h: h, b: b };
  var X = function (x) { return left + (x - b.x0) / (b.x1 - b.x0) * w; };
  var Y = function (y) { return top + h - (y - b.y0) / (b.y1 - b.y0) * h; };
  ctx.strokeStyle = line; ctx.fillStyle = muted; ctx.lineWidth = 1;
  var self = this;
  niceTicks(b.y0, b.y1, 6).forEach(function (t) {
    var y = Math.round(Y(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(self.log ? formatNumber(Math.pow(10, t)) : formatNumber(t), left - 6, y);
  });
  if (this.xLabels) {
    this.xLabels.forEach(function (label, i) {
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      ctx.fillText(label, X(i), top + h + 6);
    });
  } else {
    niceTicks(b.x0, b.x1, Math.max(2, Math.floor(w / 110))).forEach(function (t) {
      var x = Math.round(X(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, top + h); ctx.lineTo(x, top + h + 4); ctx.stroke();
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      ctx.fillText(formatX(t, self.mode), x, top + h + 6);
    });
  }
  ctx.strokeStyle = fg;
  ctx.strokeRect(left + 0.5, top + 0.5, w, h);
  for (var s = 0; s < this.series.length; s++) {
    var pts = this.series[s].shown, color = PALETTE[s % PALETTE.length];
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 1.5;
    if (this.scatter) {
      for (var i = 0; i < pts.length; i++) {
        var sy = this.ys(pts[i][1]);
        if (sy === null) continue;
        ctx.beginPath(); ctx.arc(X(pts[i][0]), Y(sy), 5, 0, 2 * Math.PI); ctx.fill();
      }
      continue;
    }
    ctx.beginPath();
    var pen = false;
    for (var j = 0; j < pts.length; j++) {
      var y = this.ys(pts[j][1]);
      if (y === null || !isFinite(y)) { pen = false; continue; }
      if (pen) ctx.lineTo(X(pts[j][0]), Y(y)); else ctx.moveTo(X(pts[j][0]), Y(y));
      pen = true;
    }
    ctx.stroke();
  }
  if (this.cursorX !== undefined && this.cursorX !== null) {
    ctx.strokeStyle = muted; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(this.cursorX + 0.5, top); ctx.lineTo(this.cursorX + 0.5, top + h); ctx.stroke();
    ctx.setLineDash([]);
  }
};

function nearest(points, x) {
  var lo = 0, hi = points.length - 1;
  if (hi < 0) return null;
  while (hi - lo > 1) {
    var mid = (lo + hi) >> 1;
    if (points[mid][0] < x) lo = mid; else hi = mid;
  }
  return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo] : points[hi];
}

Plot.prototype.hover = function (px) {
  var f = this.frame;
  if (px === null || !f || px < f.left || px > f.left + f.w) {
    this.cursorX = null; this.tooltip.hidden = true; this.draw(); return;
  }
  var x = f.b.x0 + (px - f.left) / f.w * (f.b.x1 - f.b.x0);
  var lines = [];
  if (this.scatter) {
    var best = null, bestD = Infinity;
    for (var s = 0; s < this.series.length; s++) {
      this.series[s].shown.forEach(function (p) {
        var d = Math.abs(p[0] - x);
        if (d < bestD) { bestD = d; best = [p, s]; }
      });
    }
    if (best) lines.push(this.series[best[1]].name + ": " + (this.xLabels ? this.xLabels[best[0][0]] : formatNumber(best[0][0])) + " → " + formatNumber(best[0][1]));
  } else {
    var at = null;
    for (var k = 0; k < this.series.length; k++) {
      var p = nearest(this.series[k].shown, x);
      if (!p) continue;
      at = p[0];
      lines.push(this.series[k].name + ": " + formatNumber(p[1]));
    }
    if (at !== null) lines.unshift(this.mode + " " + formatX(at, this.mode));
  }
  this.cursorX = px;
  this.draw();
  this.tooltip.textContent = "";
  for (var i = 0; i < lines.length; i++) {
    var div = document.createElement("div");
    div.textContent = lines[i];
    this.tooltip.appendChild(div);
  }
  this.tooltip.hidden = lines.length === 0;
  this.tooltip.style.left = Math.min(px + 12, f.left + f.w - 160) + "px";
  this.tooltip.style.top = (f.top + 8) + "px";
};

function lineChart() {
  var config = JSON.parse(document.getElementById("chart-config").textContent);
  var plot = new Plot(document.getElementById("chart"), document.getElementById("chart-tooltip"));
  var status = document.getElementById("chart-status");
  var xSelect = document.getElementById("chart-x");
  var slider = document.getElementById("chart-smooth");
  var logBox = document.getElementById("chart-log");
  var raw = [];

  function restyle() {
    var weight = parseFloat(slider.value) || 0;
    document.getElementById("chart-smooth-value").textContent = weight.toFixed(2);
    plot.log = logBox.checked;
    plot.series = raw.map(function (s) { return { name: s.name, shown: smooth(s.points, weight) }; });
    plot.draw();
  }

  function load() {
    var started = performance.now();
    status.textContent = "Loading…";
    var mode = xSelect.value;
    var requests = config.runs.map(function (run) {
      var url = "/ui-api/series?run=" + encodeURIComponent(run.run_id) + "&key=" + encodeURIComponent(config.key) + "&x=" + mode;
      return fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (data) {
        return { name: run.name, total: data.total, points: data.points };
      });
    });
    Promise.all(requests).then(function (series) {
      raw = series;
      plot.mode = mode;
      restyle();
      var legend = document.getElementById("chart-legend");
      legend.textContent = "";
      series.forEach(function (s, i) {
        var item = document.createElement("span");
        var swatch = document.createElement("i");
        swatch.style.background = PALETTE[i % PALETTE.length];
        item.appendChild(swatch);
        item.appendChild(document.createTextNode(s.name + " (" + s.total + " points)"));
        legend.appendChild(item);
      });
      var ms = performance.now() - started;
      document.body.dataset.chartMs = ms.toFixed(1);
      status.textContent = "Drawn in " + ms.toFixed(0) + " ms (" + series.map(function (s) { return s.points.length; }).join(" + ") + " points after downsampling).";
    }).catch(function (error) {
      status.textContent = "Could not load the series: " + error.message;
    });
  }

  xSelect.addEventListener("change", load);
  slider.addEventListener("input", restyle);
  logBox.addEventListener("change", restyle);
  load();
}

function scatterChart() {
  var config = JSON.parse(document.getElementById("scatter-config").textContent);
  var plot = new Plot(document.getElementById("scatter"), document.getElementById("scatter-tooltip"));
  plot.scatter = true;
  var numeric = config.points.every(function (p) { return p.x === null || p.xn !== null; });
  if (!numeric) {
    var labels = [];
    config.points.forEach(function (p) { if (labels.indexOf(String(p.x)) < 0) labels.push(String(p.x)); });
    labels.sort();
    plot.xLabels = labels;
  }
  plot.series = config.points.map(function (p) {
    var x = numeric ? p.xn : plot.xLabels.indexOf(String(p.x));
    return { name: p.name, shown: x === null || p.y === null ? [] : [[x, p.y]] };
  });
  plot.draw();
}

if (document.getElementById("chart-config")) lineChart();
if (document.getElementById("scatter-config")) scatterChart();
