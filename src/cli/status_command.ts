// `raft-signer status --home DIR [--json] [--watch [--interval MS]]`: asks every member, through
// this node's configuration and certificate, for its state. Exit status 0 when a majority of the
// voters answered. The members are config.yaml's peers plus any member the answering nodes know
// (learners and voters added since config.yaml was written), reached at the addresses they report
// (the query itself: src/node/cluster_status_query.ts).
// --watch redraws the table every interval until Ctrl-C.

import { Command, InvalidArgumentError } from 'commander';
import { ClusterStatus, ClusterStatusRow, queryClusterStatus } from '../node/cluster_status_query';
import { CliError } from './cli_errors';
import { sleep } from '../util/sleep';

export function formatStatusTable(s: ClusterStatus): string {
  const header = ['NODE', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'STORE'];
  const store = (n: ClusterStatusRow): string => (n.storeId ? `${n.storeId.slice(0, 8)}${n.storeNamed === false ? ' (new)' : ''}` : '-');
  const rows = s.nodes.map((n) => [n.id, n.role, String(n.term ?? '-'), String(n.commitIndex ?? '-'), String(n.appliedIndex ?? '-'), store(n)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line)];
  out.push('');
  out.push(`leader: ${s.leader ?? 'none'}; ${s.reachable} of ${s.voters} nodes answered (a majority is ${s.majority})`);
  if (s.learners.length > 0) out.push(`learners (replicate, do not vote or sign): ${s.learners.join(', ')}`);
  for (const c of s.chains) {
    out.push(`chain ${c.chainId} key ${c.pubKey.slice(0, 16)}…: last signed height ${c.height} round ${c.round} step ${c.step}`);
  }
  for (const n of s.nodes) {
    if (n.storeNamed === false && (s.voterIds ?? []).concat(s.learners).includes(n.id)) {
      out.push(
        `${n.id} runs on a store the membership does not name (its data was lost or replaced): it votes and signs nothing ` +
          `until it is removed, added again as a learner under this store and promoted`,
      );
    }
  }
  for (const n of s.nodes) if (n.error) out.push(`${n.id}: ${n.error}`);
  return out.join('\n') + '\n';
}

export interface WatchOptions {
  /** One status round; a rejection is shown in the frame and the watch goes on. */
  query: () => Promise<ClusterStatus>;
  write: (text: string) => void;
  intervalMs: number;
  /** Redraw in place with ANSI (a terminal) or print successive tables (a pipe or a file). */
  tty: boolean;
  /** Aborted on Ctrl-C: the watch returns after the frame in progress. */
  signal: AbortSignal;
  now?: () => Date;
}

/** Home the cursor and clear the screen: the table is redrawn where it was. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** The text of one watch frame. */
export function formatWatchFrame(body: string, at: Date, intervalMs: number, tty: boolean): string {
  const stamp = at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  if (tty) return `${CLEAR_SCREEN}raft-signer status at ${stamp} (every ${intervalMs} ms; Ctrl-C to stop)\n\n${body}`;
  return `--- ${stamp}\n${body}\n`;
}

/** Prints a status frame every interval until `signal` is aborted. */
export async function watchClusterStatus(options: WatchOptions): Promise<void> {
  const now = options.now ?? (() => new Date());
  while (!options.signal.aborted) {
    const started = Date.now();
    let body: string;
    try {
      body = formatStatusTable(await options.query());
    } catch (e) {
      body = `cannot ask the cluster: ${(e as Error).message}\n`;
    }
    if (options.signal.aborted) return;
    options.write(formatWatchFrame(body, now(), options.intervalMs, options.tty));
    await sleep(Math.max(0, options.intervalMs - (Date.now() - started)), { signal: options.signal });
  }
}

/** The shortest --interval: each round asks every member, and a terminal cannot show faster. */
export const MIN_WATCH_INTERVAL_MS = 100;

function parseInterval(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < MIN_WATCH_INTERVAL_MS) {
    throw new InvalidArgumentError(`must be a whole number of milliseconds, at least ${MIN_WATCH_INTERVAL_MS}`);
  }
  return Number(value);
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("ask the cluster for its state through this node's configuration")
    .requiredOption('--home <dir>', "a node's home directory (holds config.yaml)")
    .option('--json', 'one JSON object on stdout')
    .option('--watch', 'redraw the table until Ctrl-C')
    .option('--interval <ms>', `with --watch: milliseconds between rounds (at least ${MIN_WATCH_INTERVAL_MS})`, parseInterval, 1000)
    .action(async (opts: { home: string; json?: boolean; watch?: boolean; interval: number }) => {
      if (opts.watch) {
        if (opts.json) throw new CliError('--watch draws a table; use --json without --watch (and poll) for machine-readable output');
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          await watchClusterStatus({
            query: () => queryClusterStatus(opts.home, Math.min(2000, Math.max(500, opts.interval))),
            write: (text) => process.stdout.write(text),
            intervalMs: opts.interval,
            tty: process.stdout.isTTY === true,
            signal: stop.signal,
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        return;
      }
      const status = await queryClusterStatus(opts.home);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            leader: status.leader,
            nodes: status.nodes.map(({ id, role, term, commitIndex, appliedIndex, storeId, storeNamed }) => ({ id, role, term, commitIndex, appliedIndex, storeId, storeNamed })),
            reachable: status.reachable,
            majority: status.majority,
            learners: status.learners,
            chains: status.chains.map((c) => ({ ...c, height: Number(c.height) })),
          }) + '\n',
        );
      } else {
        process.stdout.write(formatStatusTable(status));
      }
      if (status.reachable < status.majority) process.exitCode = 1;
    });
}
