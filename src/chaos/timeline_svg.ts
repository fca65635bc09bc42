// The chaos run as one picture, written by hand as SVG (no charting dependency): every height of
// every chain as a dot at the time it finished (green fully signed, amber voted but the proposal
// missed, red not signed), each fault as a shaded band labelled with what it was, the time
// without a healthy majority hatched, leader kills as dark lines, and any double sign as a large
// red cross. Operators look at this before they read the numbers.

import type { HeightResult } from '../standin/height_driver';
import type { HealthInterval } from './health_tracker';

export interface TimelineFault {
  id: string;
  kind: string;
  label: string;
  startedAt: number;
  endedAt: number;
}

export interface TimelineInput {
  title: string;
  /** One line under the title, or several separated by "\n". */
  subtitle?: string;
  startedAt: number;
  endedAt: number;
  heights: readonly HeightResult[];
  faults: readonly TimelineFault[];
  unhealthy: readonly HealthInterval[];
  leaderKills: readonly { at: number; node: string }[];
  /** Double signs, drawn where they happened. */
  conflicts: readonly { height: string; at: number }[];
}

const WIDTH = 1400;
const LEFT = 70;
const RIGHT = 20;
const LANE_HEIGHT = 15;
const PLOT_HEIGHT = 380;
const CHAR_WIDTH = 6.2;

/** Band colours by fault family. */
function colourOf(kind: string): string {
  switch (kind) {
    case 'kill-leader':
    case 'kill':
      return '#d62828';
    case 'pause':
      return '#f77f00';
    case 'wipe':
    case 'restore':
    case 'backup':
    case 'wipe-lagging':
    case 'restore-lagging':
      return '#7b2cbf';
    case 'rolling-restart':
      return '#6c757d';
    case 'latency':
      return '#2a9d8f';
    default:
      return '#1d4ed8';
  }
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

function niceStep(range: number, targetTicks: number): number {
  const raw = range / Math.max(1, targetTicks);
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function voted(h: HeightResult): boolean {
  const signed = (step: string): boolean => h.requests.some((r) => r.step === step && r.outcome === 'signed');
  return signed('prevote') && signed('precommit');
}

export function renderTimelineSvg(input: TimelineInput): string {
  const plotW = WIDTH - LEFT - RIGHT;
  const span = Math.max(1, input.endedAt - input.startedAt);
  const x = (t: number): number => LEFT + ((Math.min(Math.max(t, input.startedAt), input.endedAt) - input.startedAt) / span) * plotW;

  // Fault labels go in lanes above the plot, each lane holding labels that do not overlap.
  const faults = [...input.faults].sort((a, b) => a.startedAt - b.startedAt);
  const laneEnds: number[] = [];
  const laneOf = new Map<string, number>();
  // A label that would run off the right edge ends at the edge instead.
  const labelX = new Map<string, number>();
  for (const f of faults) {
    const x0 = x(f.startedAt);
    const width = `${f.id} ${f.label}`.length * CHAR_WIDTH + 6;
    const lx = Math.max(LEFT, Math.min(x0, WIDTH - RIGHT - width));
    const from = Math.min(x0, lx);
    const x1 = Math.max(x(f.endedAt), lx + width);
    let lane = laneEnds.findIndex((end) => end < from);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(x1);
    } else laneEnds[lane] = x1;
    laneOf.set(f.id, lane);
    labelX.set(f.id, lx);
  }
  const subtitles = input.subtitle !== undefined ? input.subtitle.split('\n') : [];
  const titleH = 28 + 16 * subtitles.length;
  const lanesTop = titleH + 6;
  const plotTop = lanesTop + laneEnds.length * LANE_HEIGHT + 8;
  const plotBottom = plotTop + PLOT_HEIGHT;
  const height = plotBottom + 80;

  const hs = input.heights.map((h) => Number(h.height));
  const minH = hs.length > 0 ? Math.min(...hs) : 0;
  const maxH = hs.length > 0 ? Math.max(...hs) : 1;
  const hSpan = Math.max(1, maxH - minH);
  const y = (h: number): number => plotBottom - ((h - minH) / hSpan) * (PLOT_HEIGHT - 10) - 5;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(
    '<defs><pattern id="nomajority" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="8" height="8" fill="#000" fill-opacity="0.04"/><line x1="0" y1="0" x2="0" y2="8" stroke="#000" stroke-opacity="0.35" stroke-width="2"/></pattern></defs>',
  );
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${LEFT}" y="18" font-size="15" font-weight="bold">${esc(input.title)}</text>`);
  subtitles.forEach((line, i) => out.push(`<text x="${LEFT}" y="${36 + 16 * i}" font-size="12" fill="#333">${esc(line)}</text>`));

  // Fault bands across the plot, and their labels in lanes.
  for (const f of faults) {
    const x0 = x(f.startedAt);
    const w = Math.max(1.5, x(f.endedAt) - x0);
    const c = colourOf(f.kind);
    const lane = laneOf.get(f.id) ?? 0;
    const ly = lanesTop + lane * LANE_HEIGHT;
    out.push(`<rect x="${num(x0)}" y="${num(plotTop)}" width="${num(w)}" height="${PLOT_HEIGHT}" fill="${c}" fill-opacity="0.13"><title>${esc(`${f.id} ${f.label}`)}</title></rect>`);
    out.push(`<rect x="${num(x0)}" y="${num(ly)}" width="${num(w)}" height="${LANE_HEIGHT - 3}" fill="${c}" fill-opacity="0.35"/>`);
    out.push(`<line x1="${num(x0)}" y1="${num(ly)}" x2="${num(x0)}" y2="${num(plotTop)}" stroke="${c}" stroke-opacity="0.5" stroke-width="0.7"/>`);
    out.push(`<text x="${num((labelX.get(f.id) ?? x0) + 2)}" y="${num(ly + LANE_HEIGHT - 5)}" fill="#111">${esc(`${f.id} ${f.label}`)}</text>`);
  }
  for (const u of input.unhealthy) {
    const x0 = x(u.from);
    out.push(`<rect x="${num(x0)}" y="${num(plotTop)}" width="${num(Math.max(1.5, x(u.to) - x0))}" height="${PLOT_HEIGHT}" fill="url(#nomajority)"><title>no healthy majority</title></rect>`);
  }

  // Axes and grid.
  out.push(`<rect x="${LEFT}" y="${num(plotTop)}" width="${plotW}" height="${PLOT_HEIGHT}" fill="none" stroke="#333"/>`);
  const tStep = niceStep(span / 1000, 12);
  for (let s = 0; s <= span / 1000 + 1e-9; s += tStep) {
    const xx = x(input.startedAt + s * 1000);
    out.push(`<line x1="${num(xx)}" y1="${num(plotBottom)}" x2="${num(xx)}" y2="${num(plotBottom + 4)}" stroke="#333"/>`);
    out.push(`<text x="${num(xx)}" y="${num(plotBottom + 16)}" text-anchor="middle">${num(s)} s</text>`);
  }
  const hStep = Math.max(1, niceStep(hSpan, 8));
  for (let h = Math.ceil(minH / hStep) * hStep; h <= maxH; h += hStep) {
    const yy = y(h);
    out.push(`<line x1="${LEFT - 4}" y1="${num(yy)}" x2="${LEFT + plotW}" y2="${num(yy)}" stroke="#000" stroke-opacity="0.07"/>`);
    out.push(`<text x="${LEFT - 6}" y="${num(yy + 4)}" text-anchor="end">${h}</text>`);
  }
  out.push(`<text x="16" y="${num(plotTop + PLOT_HEIGHT / 2)}" transform="rotate(-90 16 ${num(plotTop + PLOT_HEIGHT / 2)})" text-anchor="middle">height</text>`);

  // Leader kills.
  for (const k of input.leaderKills) {
    const xx = x(k.at);
    out.push(`<line x1="${num(xx)}" y1="${num(plotTop)}" x2="${num(xx)}" y2="${num(plotBottom)}" stroke="#5a0000" stroke-width="1.2" stroke-dasharray="4 3"><title>leader ${esc(k.node)} killed</title></line>`);
    out.push(`<path d="M ${num(xx - 4)} ${num(plotTop)} L ${num(xx + 4)} ${num(plotTop)} L ${num(xx)} ${num(plotTop + 7)} Z" fill="#5a0000"/>`);
  }

  // Heights.
  for (const h of input.heights) {
    const fill = h.fullySigned ? '#2a9d4b' : voted(h) ? '#e9a23b' : '#d62828';
    const r = h.fullySigned ? 1.8 : 3;
    out.push(`<circle cx="${num(x(h.finishedAt))}" cy="${num(y(Number(h.height)))}" r="${r}" fill="${fill}"/>`);
  }

  // Double signs.
  for (const c of input.conflicts) {
    const cx = x(c.at);
    const cy = y(Number(c.height));
    out.push(`<path d="M ${num(cx - 9)} ${num(cy - 9)} L ${num(cx + 9)} ${num(cy + 9)} M ${num(cx - 9)} ${num(cy + 9)} L ${num(cx + 9)} ${num(cy - 9)}" stroke="#c00" stroke-width="3.5"><title>double sign at height ${esc(c.height)}</title></path>`);
  }

  // Legend.
  const ly = plotBottom + 40;
  const legend: [string, string][] = [
    ['#2a9d4b', 'height fully signed'],
    ['#e9a23b', 'voted, proposal not signed'],
    ['#d62828', 'not signed'],
  ];
  let lx = LEFT;
  for (const [c, t] of legend) {
    out.push(`<circle cx="${lx + 4}" cy="${ly - 4}" r="4" fill="${c}"/><text x="${lx + 12}" y="${ly}">${esc(t)}</text>`);
    lx += 24 + t.length * CHAR_WIDTH;
  }
  out.push(`<rect x="${lx}" y="${ly - 10}" width="16" height="12" fill="url(#nomajority)" stroke="#999"/><text x="${lx + 20}" y="${ly}">no healthy majority</text>`);
  lx += 150;
  out.push(`<line x1="${lx}" y1="${ly - 10}" x2="${lx}" y2="${ly + 2}" stroke="#5a0000" stroke-width="1.2" stroke-dasharray="4 3"/><text x="${lx + 6}" y="${ly}">leader killed</text>`);
  lx += 100;
  const families: [string, string][] = [
    ['kill', 'SIGKILL'],
    ['pause', 'SIGSTOP'],
    ['wipe', 'storage'],
    ['rolling-restart', 'rolling restart'],
    ['split', 'network'],
    ['latency', 'latency'],
  ];
  for (const [k, t] of families) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="16" height="12" fill="${colourOf(k)}" fill-opacity="0.35"/><text x="${lx + 20}" y="${ly}">${esc(t)}</text>`);
    lx += 30 + t.length * CHAR_WIDTH;
  }
  out.push(`<path d="M ${lx} ${ly - 10} L ${lx + 12} ${ly + 2} M ${lx} ${ly + 2} L ${lx + 12} ${ly - 10}" stroke="#c00" stroke-width="3"/><text x="${lx + 18}" y="${ly}">double sign</text>`);
  out.push(`<text x="${LEFT}" y="${ly + 22}" fill="#555">time since the drivers started; one dot per chain per height, at the time the height finished</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
