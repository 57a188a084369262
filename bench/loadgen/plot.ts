/**
 * plot writes dependency-free SVG line charts for the bench reports: latency (p50/p99 per second) over time, several
 * arms side by side, optional log-scale y axis, axes with ticks, a legend. Output is a string; the caller writes it.
 * NaN points (empty bins) break a line instead of dropping it to zero.
 */

/** Series is one line: points as [x, y]. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** color is any SVG color (default: a fixed palette by index). */
  color?: string;
  /** dashed draws the line dashed (e.g. p50 beside a solid p99). */
  dashed?: boolean;
}

/** Chart is one panel. */
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** logY draws the y axis in log10 scale; non-positive values are skipped. */
  logY?: boolean;
  /** yMin and yMax fix the y range (defaults: from the data). */
  yMin?: number;
  yMax?: number;
  /** hLines are horizontal reference lines, e.g. the SLO. */
  hLines?: Array<{ y: number; label: string }>;
  width?: number;
  height?: number;
}

/** palette is the default series colours (colour-blind friendly order). */
export const palette = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#f0e442', '#000000'];

/** escapeXml makes text safe inside SVG text nodes and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/** chartBody renders one chart as an SVG <g> of the given size (no <svg> wrapper). */
function chartBody(c: Chart, w: number, h: number): string {
  const m = { l: 64, r: 16, t: 28, b: 44 };
  const legendH = 18 * Math.ceil(c.series.length / 3);
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b - legendH;
  const ok = (y: number): boolean => Number.isFinite(y) && (!c.logY || y > 0);
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1])).filter(ok).concat((c.hLines ?? []).map((l) => l.y).filter(ok));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  let y0 = c.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let y1 = c.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (!c.logY && c.yMin === undefined) y0 = Math.min(0, y0);
  if (c.logY) {
    y0 = Math.pow(10, Math.floor(Math.log10(Math.max(y0, 1e-9))));
    y1 = Math.pow(10, Math.ceil(Math.log10(Math.max(y1, y0 * 10))));
  }
  if (y1 <= y0) y1 = y0 + 1;
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const sx = (x: number): number => m.l + ((x - x0) / xSpan) * pw;
  const sy = (y: number): number =>
    c.logY ? m.t + ph - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph : m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<text x="${w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(c.title)}</text>`);
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  // x ticks
  const xs0 = niceStep(xSpan, 8);
  for (let v = Math.ceil(x0 / xs0) * xs0; v <= x1 + 1e-9; v += xs0) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.t + ph}" x2="${x}" y2="${m.t + ph + 4}" stroke="#888"/>`);
    out.push(`<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle" font-size="10">${fmt(v)}</text>`);
  }
  // y ticks
  const yTicks: number[] = [];
  if (c.logY) for (let v = y0; v <= y1 * 1.0001; v *= 10) yTicks.push(v);
  else {
    const st = niceStep(y1 - y0, 6);
    for (let v = Math.ceil(y0 / st) * st; v <= y1 + 1e-9; v += st) yTicks.push(v);
  }
  for (const v of yTicks) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="10">${fmt(v)}</text>`);
  }
  out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 34}" text-anchor="middle" font-size="11">${escapeXml(c.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(c.yLabel)}${c.logY ? ' (log)' : ''}</text>`);
  for (const l of c.hLines ?? []) {
    if (!ok(l.y) || l.y < y0 || l.y > y1) continue;
    const y = sy(l.y).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#c00" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${m.l + pw - 4}" y="${Number(y) - 4}" text-anchor="end" font-size="10" fill="#c00">${escapeXml(l.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = escapeXml(s.color ?? palette[i % palette.length]!);
    // split into runs of valid points
    const runs: string[] = [];
    let cur: string[] = [];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !ok(y)) {
        if (cur.length) runs.push(cur.join(' '));
        cur = [];
        continue;
      }
      cur.push(`${sx(x).toFixed(1)},${sy(Math.min(Math.max(y, y0), y1)).toFixed(1)}`);
    }
    if (cur.length) runs.push(cur.join(' '));
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    for (const r of runs) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5"${dash} points="${r}"/>`);
    out.push('</g>');
    const lx = m.l + (i % 3) * (pw / 3);
    const ly = m.t + ph + 44 + Math.floor(i / 3) * 18;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 24}" y="${ly}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return out.join('\n');
}

/** lineChartSvg renders one chart as a standalone SVG document. */
export function lineChartSvg(c: Chart): string {
  return panelsSvg([c], 1);
}

/** panelsSvg renders several charts side by side (`columns` per row) in one SVG document. */
export function panelsSvg(charts: Chart[], columns = charts.length): string {
  const cols = Math.max(1, Math.min(columns, charts.length));
  const cw = Math.max(...charts.map((c) => c.width ?? 640));
  const ch = Math.max(...charts.map((c) => (c.height ?? 360) + 18 * Math.ceil(c.series.length / 3)));
  const rows = Math.ceil(charts.length / cols);
  const W = cw * cols;
  const H = ch * rows;
  const parts = charts.map((c, i) => `<g transform="translate(${(i % cols) * cw} ${Math.floor(i / cols) * ch})">\n${chartBody(c, cw, ch)}\n</g>`);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n` +
    `<rect width="${W}" height="${H}" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

/** LatencyBins is what latencyChart needs from a run: 1 s bins with p50 and p99 (see metrics.ts Bin). */
export interface LatencyBins {
  name: string;
  bins: ReadonlyArray<{ t: number; p50: number; p99: number }>;
}

/**
 * latencyCharts builds one panel per arm (p99 solid, p50 dashed, seconds on x, ms on y, log scale by default) with the
 * SLO drawn in, ready for panelsSvg. All panels share the y range so arms compare at a glance.
 */
export function latencyCharts(arms: LatencyBins[], o: { sloMs?: number; logY?: boolean; title?: string } = {}): Chart[] {
  const all = arms.flatMap((a) => a.bins.flatMap((b) => [b.p50, b.p99])).filter((v) => Number.isFinite(v) && v > 0);
  const yMax = all.length ? Math.max(...all) : 1;
  const yMin = all.length ? Math.min(...all) : 0.1;
  const logY = o.logY ?? true;
  return arms.map((a) => ({
    title: `${o.title ? o.title + ': ' : ''}${a.name}`,
    xLabel: 'time (s)',
    yLabel: 'latency (ms)',
    logY,
    yMin: logY ? yMin : 0,
    yMax,
    hLines: o.sloMs ? [{ y: o.sloMs, label: `SLO ${o.sloMs} ms` }] : [],
    series: [
      { name: 'p99', points: a.bins.map((b) => [b.t / 1000, b.p99] as [number, number]), color: palette[1] },
      { name: 'p50', points: a.bins.map((b) => [b.t / 1000, b.p50] as [number, number]), color: palette[0], dashed: true },
    ],
  }));
}
