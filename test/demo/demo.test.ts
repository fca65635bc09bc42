// `npm run demo` as CI and a user run it: the built demo (dist/demo/main.js) as a child process,
// non-interactively. The demo must keep signing through a leader kill, exit 0, and leave nothing
// behind: every node process it started is gone and its temporary directory removed, whether it
// ends by --duration or by SIGTERM. Each run gets its own TMPDIR, so "nothing left" is checked
// without trusting what the demo says about itself. Linux: processes are found through /proc.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DEMO_ENTRY = path.resolve(__dirname, '..', '..', 'dist', 'demo', 'main.js');

/** Processes whose command line mentions `text` (the demo's nodes carry their home in theirs). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

class DemoRun {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly tmp: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, [DEMO_ENTRY, ...args], {
      env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString('utf8')));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout)) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${pattern} in the demo's output within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** After a failed test: leave nothing running, whatever the demo did. */
  forceCleanUp(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const pid of processesMentioning(this.tmp)) process.kill(pid, 'SIGKILL');
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

function expectNothingLeft(tmp: string): void {
  expect(processesMentioning(tmp)).toEqual([]);
  expect(fs.readdirSync(tmp)).toEqual([]);
}

describe('npm run demo, non-interactively', () => {
  let run: DemoRun | undefined;

  beforeAll(() => {
    if (!fs.existsSync(DEMO_ENTRY)) throw new Error(`${DEMO_ENTRY} is missing: run \`npm run build\` first`);
  });

  afterEach(() => {
    run?.forceCleanUp();
    run = undefined;
  });

  test('--duration with a scripted leader kill: keeps signing, exits 0, leaves nothing behind', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-demo-test-'));
    run = new DemoRun(tmp, ['--duration', '15', '--script', '5:k', '--json']);
    // No one types: stdin at EOF must not end the demo before its duration.
    run.child.stdin?.end();
    const { code, signal } = await run.exited;
    if (code !== 0) throw new Error(`the demo exited with ${signal ?? code}:\n${run.stdout}\n${run.stderr}`);

    const lines = run.stdout.trim().split('\n');
    const summary = JSON.parse(lines[lines.length - 1]) as {
      root: string;
      kills: { node: string; wasLeader: boolean; signal: string }[];
      heights: number;
      fullySignedAfterFirstKill: number;
      failovers: number;
      conflicts: number;
      signaturesVerified: number;
      verificationFailures: number;
      protocolErrors: number;
      pids: number[];
    };
    expect(summary.kills).toEqual([expect.objectContaining({ wasLeader: true, signal: 'SIGKILL' })]);
    expect(run.stdout).toMatch(/killed node[0-9] \(SIGKILL\), the leader/);
    // A new leader took over and heights were signed in full after the kill.
    expect(summary.failovers).toBeGreaterThanOrEqual(1);
    expect(summary.fullySignedAfterFirstKill).toBeGreaterThanOrEqual(3);
    expect(run.stdout).toMatch(/signing went on/);
    // What the validator nodes received is sound.
    expect(summary.signaturesVerified).toBeGreaterThan(0);
    expect(summary).toMatchObject({ conflicts: 0, verificationFailures: 0, protocolErrors: 0 });

    expect(summary.root.startsWith(tmp)).toBe(true);
    expect(summary.pids).toHaveLength(3);
    expectNothingLeft(tmp);
  }, 90_000);

  test('commands as lines on stdin, then SIGTERM: stops everything and removes its directory', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-demo-test-'));
    run = new DemoRun(tmp, []);
    await run.waitForOutput(/cluster running/, 45_000);
    run.send('x');
    await run.waitForOutput(/unknown command "x"/, 5_000);
    run.send('2');
    await run.waitForOutput(/killed node1 \(SIGKILL\)/, 10_000);
    run.send('2');
    await run.waitForOutput(/started node1/, 10_000);
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    // 128 + 15: stopped by SIGTERM, after cleaning up.
    expect(code).toBe(143);
    expect(run.stdout).toMatch(/stopped the 4 node processes it started and removed/);
    expectNothingLeft(tmp);
  }, 90_000);
});
