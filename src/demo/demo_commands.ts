// The demo's commands, one key each, the same whether they come from a key press (terminal), a
// line on stdin (no terminal) or a `--script` entry (tests and CI): so what a test drives is
// exactly what a person at the keyboard drives.

import { RaftSignerError } from '../util/errors';

export type DemoCommand =
  /** SIGKILL the current leader: the crash the cluster must survive. */
  | { kind: 'kill-leader' }
  /** Node `index`: SIGKILL it if it runs, start it if it does not. */
  | { kind: 'toggle-node'; index: number }
  /** SIGTERM the leader (it hands leadership over first), wait for it to exit, start it again. */
  | { kind: 'restart-leader' }
  | { kind: 'quit' };

/** A command to run `atMs` after the demo started signing. */
export interface ScriptStep {
  atMs: number;
  key: string;
  command: DemoCommand;
}

/** The key of node `index` (node0 is key 1: people count from one, the testnet ids from zero). */
export function nodeKey(index: number): string {
  return String(index + 1);
}

/** The command a key stands for, or null; `nodeCount` bounds the node keys (1..9: one digit each). */
export function commandForKey(key: string, nodeCount: number): DemoCommand | null {
  switch (key) {
    case 'k':
      return { kind: 'kill-leader' };
    case 't':
      return { kind: 'restart-leader' };
    case 'q':
      return { kind: 'quit' };
    default:
      if (/^[1-9]$/.test(key) && Number(key) <= nodeCount) return { kind: 'toggle-node', index: Number(key) - 1 };
      return null;
  }
}

/** One line per command, for the help the demo prints (the same text in every mode). */
export function commandHelp(nodeIds: readonly string[]): string[] {
  const keys = nodeIds.map((_, i) => nodeKey(i)).join('/');
  return [
    'k      kill the leader (SIGKILL)',
    `${keys.padEnd(6)} kill or restart ${nodeIds.join(', ')}`,
    't      restart the leader gracefully (SIGTERM: it hands over first)',
    'q      quit: stop everything, remove its files, print a summary (or Ctrl-C)',
  ];
}

export class ScriptError extends RaftSignerError<{ code: 'DEMO_SCRIPT_INVALID' }> {
  constructor(message: string) {
    super({ code: 'DEMO_SCRIPT_INVALID' }, message);
    this.name = 'ScriptError';
  }
}

/**
 * Parses `--script "5:k,9:2,12:t"`: at 5 s kill the leader, at 9 s toggle node1, at 12 s restart
 * the leader gracefully. Seconds may be fractional; several keys in one entry ("5:k2") run in
 * order at that time. Steps come back sorted by time.
 */
export function parseScript(text: string, nodeCount: number): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const match = /^([0-9]+(?:\.[0-9]+)?)\s*:\s*(\S+)$/.exec(entry);
    if (!match) throw new ScriptError(`script entry "${entry}" is not SECONDS:KEYS (such as 5:k or 12.5:2)`);
    const atMs = Math.round(Number(match[1]) * 1000);
    for (const key of match[2]) {
      const command = commandForKey(key, nodeCount);
      if (command === null) {
        throw new ScriptError(`script entry "${entry}": "${key}" is not a command key (k, t, q or a node key 1 to ${nodeCount})`);
      }
      steps.push({ atMs, key, command });
    }
  }
  // A stable sort keeps the written order of steps at the same time.
  return steps.sort((a, b) => a.atMs - b.atMs);
}
