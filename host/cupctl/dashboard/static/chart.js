"use strict";
// A plain canvas line chart: vacuum (solid) and target (dashed) over time in kPa, the cup's hard limit
// in red. rows: [t_ms, vacuum_pa, target_pa, ...]; opts: {end, span} in ms (the window shown),
// limitPa, xLabel ("ago": seconds before now; else seconds from the first row).

function drawChart(canvas, rows, opts) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const pad = {left: 46, right: 12, top: 12, bottom: 26};
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const end = opts.end;
  const start = end - opts.span;
  let first = 0;
  while (first < rows.length && rows[first][0] < start) first++;
  let peak = 10000;
  for (let i = first; i < rows.length; i++) peak = Math.max(peak, rows[i][1], rows[i][2]);
  if (opts.limitPa) peak = Math.max(peak, opts.limitPa);
  const topKpa = Math.ceil(peak * 1.08 / 5000) * 5;
  const x = (t) => pad.left + (t - start) / opts.span * plotW;
  const y = (pa) => pad.top + plotH - pa / 1000 / topKpa * plotH;

  ctx.font = "12px system-ui, sans-serif";
  ctx.strokeStyle = "#e4e4e4";
  ctx.fillStyle = "#555";
  ctx.lineWidth = 1;
  const yStep = topKpa > 40 ? 10 : 5;
  for (let kpa = 0; kpa <= topKpa; kpa += yStep) {
    ctx.beginPath();
    ctx.moveTo(pad.left, y(kpa * 1000));
    ctx.lineTo(width - pad.right, y(kpa * 1000));
    ctx.stroke();
    ctx.fillText(String(kpa), 8, y(kpa * 1000) + 4);
  }
  ctx.fillText("kPa", 8, pad.top - 1);
  const xStepS = [5, 10, 15, 30, 60, 120, 300, 600, 1200].find((s) => opts.span / 1000 / s <= 8) || 1800;
  for (let s = 0; s * 1000 <= opts.span; s += xStepS) {
    const t = opts.xLabel === "ago" ? end - s * 1000 : start + s * 1000;
    ctx.beginPath();
    ctx.moveTo(x(t), pad.top);
    ctx.lineTo(x(t), pad.top + plotH);
    ctx.stroke();
    const label = opts.xLabel === "ago" ? (s ? "-" + s + " s" : "now") : s + " s";
    ctx.fillText(label, x(t) - ctx.measureText(label).width / 2, height - 8);
  }

  if (opts.limitPa) {
    ctx.strokeStyle = "#d00";
    ctx.lineWidth = 2;
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(pad.left, y(opts.limitPa));
    ctx.lineTo(width - pad.right, y(opts.limitPa));
    ctx.stroke();
    ctx.fillStyle = "#d00";
    ctx.fillText("cup hard limit " + opts.limitPa / 1000 + " kPa", pad.left + 6, y(opts.limitPa) - 5);
  }
  const series = (column, colour, dash, lineWidth) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = lineWidth;
    ctx.setLineDash(dash);
    ctx.beginPath();
    for (let i = first; i < rows.length; i++) {
      const px = x(rows[i][0]);
      const py = y(rows[i][column]);
      if (i === first) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    ctx.setLineDash([]);
  };
  series(2, "#888", [6, 4], 1.5);
  series(1, "#1560bd", [], 2);
  ctx.fillStyle = "#1560bd";
  ctx.fillText("vacuum", width - pad.right - 130, pad.top + 12);
  ctx.fillStyle = "#888";
  ctx.fillText("- - target", width - pad.right - 70, pad.top + 12);
}
