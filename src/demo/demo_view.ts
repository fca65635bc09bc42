// What the demo shows, as text: the live screen (a list of lines, redrawn in place), the one-line
// status the line mode prints now and then, and the summary at the end. Pure functions of a
// snapshot, so they are tested without a terminal. Colour is plain ANSI SGR, applied after the
// text is padded and cut to the terminal's width, so escape codes never count as columns.

import { commandHelp } from './demo_commands';
import { DemoEvent, DemoSnapshot, DemoSummary, formatSeconds } from './demo_session';

export type Style = 'bold' | 'dim' | 'green' | 'red' | 'yellow' | 'cyan';

const SGR: Record<Style, string> = { bold: '1', dim: '2', green: '32', red: '31', yellow: '33', cyan: '36' };

/** A piece of a line in one style. */
export interface Span {
  text: string;
  style?: Style;
}

export interface ScreenOptions {
  /** Terminal columns: longer lines are cut, since a wrapped line would shift the whole frame. */
  width: number;
  color: boolean;
  /** Events shown (the newest last). */
  events: number;
  statusCommand: string;
}

/** Joins spans into one line of at most `width` visible columns. */
export function renderLine(spans: readonly Span[], width: number, color: boolean): string {
  let out = '';
  let left = width;
  for (const span of spans) {
    if (left <= 0) break;
    const text = span.text.length > left ? span.text.slice(0, left) : span.text;
    left -= text.length;
    out += color && span.style && text !== '' ? `\x1b[${SGR[span.style]}m${text}\x1b[0m` : text;
  }
  return out;
}

function ms(value: number | null): string {
  return value === null ? '-' : `${value} ms`;
}

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

function uptime(s: DemoSnapshot): string {
  if (s.runningSince === null) return 'starting';
  const secs = Math.floor((s.now - s.runningSince) / 1000);
  return `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
}

const EVENT_STYLE: Record<DemoEvent['level'], Style | undefined> = { info: undefined, good: 'green', warn: 'yellow' };

function roleStyle(role: string): Style | undefined {
  if (role === 'leader') return 'green';
  if (role === 'down' || role === 'unreachable') return 'red';
  if (role === 'candidate' || role === 'starting') return 'yellow';
  return undefined;
}

/** A table: every column as wide as its widest cell; `style` picks a style per cell. */
function table(header: string[], rows: string[][], style: (row: number, col: number) => Style | undefined): Span[][] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[], styleOf: (col: number) => Style | undefined): Span[] =>
    cells.flatMap((c, i) => [{ text: ' ' }, { text: c.padEnd(widths[i]), style: styleOf(i) }, { text: ' ' }]);
  return [line(header, () => 'dim'), ...rows.map((r, row) => line(r, (col) => style(row, col)))];
}

/** The live screen, top to bottom. */
export function renderScreen(s: DemoSnapshot, options: ScreenOptions): string[] {
  const lines: Span[][] = [];
  const blank: Span[] = [];
  lines.push([
    { text: ' raft-signer demo', style: 'bold' },
    { text: `  ${s.nodes.length} nodes · chain ${s.chainId} · a block every ${s.blockTimeMs} ms · up ${uptime(s)}` },
  ]);
  lines.push([{ text: ` files: ${s.root} (removed on exit)`, style: 'dim' }]);
  lines.push(blank);

  const nodeRows = s.nodes.map((n, i) => [
    `[${i + 1}]`,
    n.id,
    n.running ? `up (pid ${n.pid ?? '?'})` : 'DOWN',
    n.role,
    String(n.term ?? '-'),
    String(n.commitIndex ?? '-'),
    String(n.appliedIndex ?? '-'),
  ]);
  lines.push(
    ...table(['KEY', 'NODE', 'PROCESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED'], nodeRows, (row, col) => {
      const n = s.nodes[row];
      if (col === 2) return n.running ? undefined : 'red';
      if (col === 3) return roleStyle(n.role);
      return col === 0 ? 'cyan' : undefined;
    }),
  );
  lines.push([
    { text: ' leader: ' },
    { text: s.leader ?? 'none', style: s.leader ? 'green' : 'red' },
    { text: ` · term ${s.term ?? '-'} · failovers seen: ${s.failovers}` },
    { text: s.lastFailover ? ` (last: ${s.lastFailover})` : '' },
    { text: s.quorum ? '' : ' · NO MAJORITY ANSWERING', style: 'red' },
  ]);
  lines.push(blank);

  const valRows = s.validators.map((v) => [
    v.name,
    `${v.signer} ${v.connected ? 'connected' : 'disconnected'}`,
    String(v.heightsSigned),
    v.lastSignedHeight === null ? '-' : String(v.lastSignedHeight),
    String(v.protectionRefusals),
    String(v.unsigned),
    ms(v.latency.percentile(50)),
    ms(v.latency.percentile(99)),
  ]);
  lines.push(
    ...table(['VALIDATOR', 'PRIVVAL', 'SIGNED', 'LAST', 'REFUSED', 'MISSED', 'P50', 'P99'], valRows, (row, col) => {
      if (col === 1) return s.validators[row].connected ? undefined : 'red';
      if (col === 5 && s.validators[row].unsigned > 0) return 'yellow';
      return undefined;
    }),
  );
  lines.push([
    // One short line, so that an 80-column terminal shows all of it.
    { text: ' SIGNED heights precommitted · REFUSED conflicting asks · MISSED no quorum or no signer', style: 'dim' },
  ]);
  lines.push([
    { text: ` height ${s.lastHeight ?? '-'} · ${s.fullySignedHeights}/${s.heights} heights fully signed · ` },
    { text: `latency p50 ${ms(s.p50Ms)}, p99 ${ms(s.p99Ms)} (last ${s.latencySamples})` },
  ]);
  lines.push([
    { text: ` conflicting signatures released: ` },
    { text: String(s.conflicts), style: s.conflicts === 0 ? 'green' : 'red' },
    { text: ` · conflicting requests refused: ${s.protectionRefusals}` },
  ]);
  lines.push(blank);

  lines.push([{ text: ' events', style: 'bold' }]);
  const shown = s.events.slice(-options.events);
  for (const e of shown) lines.push([{ text: ` ${clock(e.at)} `, style: 'dim' }, { text: e.text, style: EVENT_STYLE[e.level] }]);
  for (let i = shown.length; i < options.events; i++) lines.push(blank);
  lines.push(blank);

  lines.push([{ text: ` keys${s.busy ? ' (busy: carrying out a command)' : ''}`, style: 'bold' }]);
  for (const help of commandHelp(s.nodes.map((n) => n.id))) lines.push([{ text: '  ' }, { text: help.slice(0, 6), style: 'cyan' }, { text: help.slice(6) }]);
  lines.push([{ text: ` in another shell: ${options.statusCommand}`, style: 'dim' }]);
  return lines.map((l) => renderLine(l, options.width, options.color));
}

/** One line for the line mode, printed every few seconds. */
export function renderStatusLine(s: DemoSnapshot): string {
  const nodes = s.nodes.map((n) => `${n.id}=${n.running ? n.role : 'DOWN'}`).join(' ');
  const vals = s.validators.map((v) => `${v.name} ${v.heightsSigned}`).join(', ');
  return (
    `[${uptime(s)}] ${nodes} · leader ${s.leader ?? 'none'} term ${s.term ?? '-'} · ` +
    `height ${s.lastHeight ?? '-'}, signed ${vals} · p50 ${ms(s.p50Ms)} p99 ${ms(s.p99Ms)} · ` +
    `failovers ${s.failovers} · conflicting signatures ${s.conflicts}`
  );
}

export function renderEventLine(e: DemoEvent): string {
  return `${clock(e.at)} ${e.text}`;
}

/** The summary printed at the end (text). */
export function renderSummary(r: DemoSummary): string {
  const lines: string[] = [];
  lines.push(`raft-signer demo summary (chain ${r.chainId}, ran ${formatSeconds(r.ranMs)})`);
  lines.push(`  heights: ${r.heights}, fully signed: ${r.fullySignedHeights}`);
  for (const k of r.kills) {
    lines.push(`  ${clock(k.at)} ${k.signal === 'SIGKILL' ? 'killed' : 'gracefully restarted'} ${k.node}${k.wasLeader ? ' (the leader)' : ''}`);
  }
  if (r.kills.length > 0) lines.push(`  heights started after the first kill and fully signed: ${r.fullySignedAfterFirstKill}`);
  lines.push(`  failovers seen: ${r.failovers}`);
  for (const v of r.validators) {
    lines.push(
      `  ${v.name}: ${v.heightsSigned} heights signed, ${v.signatures} signatures (p50 ${ms(v.p50Ms)}, p99 ${ms(v.p99Ms)}), ` +
        `${v.protectionRefusals} conflicting requests refused, ${v.unsigned} missed`,
    );
  }
  lines.push(`  sign latency over the last signatures: p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}`);
  lines.push(
    `  ${r.signaturesVerified} signatures verified (${r.verificationFailures} failed); conflicting signatures released: ${r.conflicts}; ` +
      `protocol errors: ${r.protocolErrors}`,
  );
  lines.push(`  stopped the ${r.pids.length} node processes it started and removed ${r.root}`);
  return lines.join('\n') + '\n';
}
