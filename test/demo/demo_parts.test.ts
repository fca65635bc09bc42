// The demo's pure parts: command keys and --script, the latency window and counters, and the
// screen rendering (without a terminal).

import { commandForKey, parseScript, ScriptError } from '../../src/demo/demo_commands';
import { DemoSnapshot } from '../../src/demo/demo_session';
import { DemoStats, isProtectionRefusal, SlidingWindow } from '../../src/demo/demo_stats';
import { renderLine, renderScreen, renderStatusLine } from '../../src/demo/demo_view';
import { HeightResult, RequestResult } from '../../src/standin/height_driver';

describe('demo commands', () => {
  test('keys map to commands; node keys count from 1 and stop at the node count', () => {
    expect(commandForKey('k', 3)).toEqual({ kind: 'kill-leader' });
    expect(commandForKey('t', 3)).toEqual({ kind: 'restart-leader' });
    expect(commandForKey('q', 3)).toEqual({ kind: 'quit' });
    expect(commandForKey('1', 3)).toEqual({ kind: 'toggle-node', index: 0 });
    expect(commandForKey('3', 3)).toEqual({ kind: 'toggle-node', index: 2 });
    expect(commandForKey('4', 3)).toBeNull();
    expect(commandForKey('0', 3)).toBeNull();
    expect(commandForKey('kk', 3)).toBeNull();
  });

  test('--script: seconds and keys, sorted by time, several keys per entry in order', () => {
    expect(parseScript('9:2, 5:k,12.5:t2', 3)).toEqual([
      { atMs: 5000, key: 'k', command: { kind: 'kill-leader' } },
      { atMs: 9000, key: '2', command: { kind: 'toggle-node', index: 1 } },
      { atMs: 12500, key: 't', command: { kind: 'restart-leader' } },
      { atMs: 12500, key: '2', command: { kind: 'toggle-node', index: 1 } },
    ]);
    expect(parseScript('', 3)).toEqual([]);
    expect(() => parseScript('5k', 3)).toThrow(ScriptError);
    expect(() => parseScript('5:x', 3)).toThrow(/"x" is not a command key/);
    expect(() => parseScript('5:4', 3)).toThrow(/1 to 3/);
  });
});

describe('demo statistics', () => {
  test('the sliding window keeps the last N samples; nearest-rank percentiles', () => {
    const w = new SlidingWindow(4);
    expect(w.percentile(50)).toBeNull();
    for (const v of [100, 1, 2, 3, 4]) w.push(v);
    expect(w.size).toBe(4);
    expect(w.percentile(50)).toBe(2);
    expect(w.percentile(99)).toBe(4);
    expect(w.percentile(0)).toBe(1);
  });

  test('refusals by the double-sign rules are told apart from refusals for lack of a quorum', () => {
    expect(isProtectionRefusal('conflicting-data: conflicting data at 5/0/2')).toBe(true);
    expect(isProtectionRefusal('height-regression: got 4, last signed 5')).toBe(true);
    expect(isProtectionRefusal('deadline: the cluster did not decide within 3000 ms')).toBe(false);
    expect(isProtectionRefusal('no-leader: no leader known')).toBe(false);
  });

  test('counts heights signed per validator node, latencies of signatures, and why the rest were not signed', () => {
    const stats = new DemoStats(['val0', 'val1']);
    const req = (standin: string, step: RequestResult['step'], outcome: RequestResult['outcome'], message?: string, latencyMs = 10): RequestResult => ({
      standin,
      step,
      choice: 'block',
      outcome,
      ...(message ? { message } : {}),
      startedAt: 0,
      latencyMs,
    });
    const height: HeightResult = {
      chainId: 'c',
      height: 7n,
      startedAt: 0,
      finishedAt: 1,
      fullySigned: true,
      requests: [
        req('val0', 'proposal', 'signed', undefined, 5),
        req('val0', 'prevote', 'signed', undefined, 7),
        req('val0', 'precommit', 'signed', undefined, 9),
        req('val1', 'prevote', 'refused', 'conflicting-data: another block'),
        req('val1', 'precommit', 'error', 'no signer connected'),
      ],
    };
    const notes = stats.record(height);
    expect(notes.protectionRefusals).toHaveLength(1);
    // A stand-in without its signer misses its vote: counted, but not an event.
    expect(notes.failures).toEqual([]);
    const [v0, v1] = stats.perValidator;
    expect(v0).toMatchObject({ heightsSigned: 1, lastSignedHeight: 7n, signatures: 3, unsigned: 0 });
    expect(v1).toMatchObject({ heightsSigned: 0, lastSignedHeight: null, protectionRefusals: 1, unsigned: 1 });
    expect(stats.overallLatency.percentile(50)).toBe(7);
    expect(stats).toMatchObject({ heights: 1, fullySignedHeights: 1, lastHeight: 7n, protectionRefusals: 1 });
  });
});

describe('demo view', () => {
  const snapshot: DemoSnapshot = {
    now: 60_000,
    runningSince: 0,
    root: '/tmp/raft-signer-demo-x',
    chainId: 'demo-chain',
    blockTimeMs: 500,
    nodes: [
      { id: 'node0', home: '/h0', running: true, pid: 11, role: 'leader', term: 3, commitIndex: 40, appliedIndex: 40 },
      { id: 'node1', home: '/h1', running: false, pid: null, role: 'down', term: null, commitIndex: null, appliedIndex: null },
    ],
    leader: 'node0',
    term: 3,
    quorum: true,
    validators: [],
    heights: 10,
    fullySignedHeights: 9,
    lastHeight: 10n,
    protectionRefusals: 1,
    p50Ms: 12,
    p99Ms: 80,
    latencySamples: 30,
    failovers: 1,
    lastFailover: 'node1 → node0 (term 3)',
    conflicts: 0,
    events: [{ at: 0, level: 'warn', text: 'killed node1 (SIGKILL), the leader' }],
    busy: false,
  };

  test('lines never exceed the width, and colour codes do not count as columns', () => {
    const plain = renderScreen(snapshot, { width: 40, color: false, events: 3, statusCommand: 'status' });
    expect(plain.every((l) => l.length <= 40)).toBe(true);
    const coloured = renderScreen(snapshot, { width: 40, color: true, events: 3, statusCommand: 'status' });
    expect(coloured.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''))).toEqual(plain);
    expect(renderLine([{ text: 'abc', style: 'red' }, { text: 'def' }], 4, true)).toBe('\x1b[31mabc\x1b[0md');
  });

  test('shows roles, the leader, latency, failovers and events', () => {
    const text = renderScreen(snapshot, { width: 200, color: false, events: 3, statusCommand: 'node dist/cli/main.js status --home /h0' }).join('\n');
    expect(text).toMatch(/\[1\] +node0 +up \(pid 11\) +leader +3 +40 +40/);
    expect(text).toMatch(/\[2\] +node1 +DOWN +down/);
    expect(text).toMatch(/leader: node0 · term 3 · failovers seen: 1/);
    expect(text).toMatch(/p50 12 ms, p99 80 ms/);
    expect(text).toMatch(/killed node1 \(SIGKILL\), the leader/);
    expect(text).toMatch(/in another shell: node dist\/cli\/main.js status --home \/h0/);
    expect(renderStatusLine(snapshot)).toMatch(/^\[01:00\] node0=leader node1=DOWN · leader node0 term 3/);
  });
});
