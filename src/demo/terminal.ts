// The demo's two faces. On a terminal: the alternate screen, redrawn in place about twice a
// second, and single key presses in raw mode. Anywhere else (a pipe, a CI log, a test): events
// and a periodic status line as plain lines, and commands read as lines from stdin. Both restore
// whatever they changed (raw mode, cursor, screen) in restore(), which is synchronous so that it
// can run from a process 'exit' handler too.

import readline from 'node:readline';

const ESC = '\x1b[';
const ENTER_ALT_SCREEN = '\x1b[?1049h';
const LEAVE_ALT_SCREEN = '\x1b[?1049l';
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;
const HOME = `${ESC}H`;
const CLEAR_TO_EOL = `${ESC}K`;
const CLEAR_BELOW = `${ESC}J`;
const CTRL_C = '\u0003';

export interface DemoTerminal {
  /** Starts reading commands: `onKey` gets single keys (raw) or trimmed lines (line mode). */
  listen(onKey: (key: string) => void): void;
  /** Undoes everything: stops reading, restores the terminal. Synchronous, idempotent. */
  restore(): void;
}

/** Raw keys and a full-screen view. */
export class LiveTerminal implements DemoTerminal {
  private active = false;
  private onData: ((data: Buffer) => void) | null = null;

  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stdout,
  ) {}

  get width(): number {
    return this.output.columns || 100;
  }

  get height(): number {
    return this.output.rows || 40;
  }

  listen(onKey: (key: string) => void): void {
    this.active = true;
    this.output.write(ENTER_ALT_SCREEN + HIDE_CURSOR);
    this.input.setRawMode(true);
    this.input.resume();
    this.onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) onKey(ch === CTRL_C ? 'q' : ch.toLowerCase());
    };
    this.input.on('data', this.onData);
  }

  /** Redraws the frame in place: no clear, so the screen does not flicker. */
  draw(lines: readonly string[]): void {
    if (!this.active) return;
    const visible = lines.slice(0, this.height - 1);
    this.output.write(HOME + visible.map((l) => l + CLEAR_TO_EOL).join('\n') + '\n' + CLEAR_BELOW);
  }

  restore(): void {
    if (!this.active) return;
    this.active = false;
    if (this.onData) this.input.off('data', this.onData);
    if (this.input.isTTY) this.input.setRawMode(false);
    this.input.pause();
    this.output.write(SHOW_CURSOR + LEAVE_ALT_SCREEN);
  }
}

/** Lines in, lines out. */
export class LineTerminal implements DemoTerminal {
  private rl: readline.Interface | null = null;

  constructor(private readonly input: NodeJS.ReadableStream = process.stdin) {}

  listen(onKey: (key: string) => void): void {
    this.rl = readline.createInterface({ input: this.input, terminal: false });
    this.rl.on('line', (line) => {
      const key = line.trim().toLowerCase();
      if (key !== '') onKey(key);
    });
  }

  restore(): void {
    this.rl?.close();
    this.rl = null;
  }
}
