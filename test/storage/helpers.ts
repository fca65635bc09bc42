// Shared fixtures for the storage tests: temp directories, a byte-level picture of a store's files
// (to prove that a refused store was not touched), entries, and a child-process runner for the
// tests that need a second process (lock, SIGKILL).

import { spawn, ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { Entry, EntryType, HardState } from '../../src/raft/types';
import { RaftStorage } from '../../src/storage/raft_storage';

export const IDENTITY = { nodeId: 'node0', clusterId: 'cluster-a' };

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'raft-storage-test-'));
}

/**
 * Stores and directories a test file opens, closed and removed after each test: call it at the
 * top of the file (it registers the afterEach itself).
 */
export function trackedStores(): { openStore: (dir: string) => Promise<RaftStorage>; freshDir: () => string } {
  const dirs: string[] = [];
  const opened: RaftStorage[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  return {
    openStore: async (dir) => {
      const store = await RaftStorage.open(dir, IDENTITY);
      opened.push(store);
      return store;
    },
    freshDir: () => {
      const dir = tempDir();
      dirs.push(dir);
      return dir;
    },
  };
}

export function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export function hardState(term: number, commit: number, vote = 'node0'): HardState {
  return { term, vote, commit };
}

/** Compares entries by value (data as plain arrays so Buffer vs Uint8Array does not matter). */
export function plain(list: Entry[]): Array<{ index: number; term: number; type: EntryType; data: number[] }> {
  return list.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] }));
}

export interface FilePicture {
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * Every entry of the directory (recursively), with size, mtime and content hash; or the file itself
 * when `dir` is a file. LOCK is stat'ed, never opened: closing any descriptor of a file drops this
 * process's fcntl locks on it, so reading LOCK would release a store this process has open.
 */
export function pictureOf(dir: string): FilePicture[] {
  const out: FilePicture[] = [];
  const picture = (full: string, name: string): FilePicture => {
    const stat = fs.statSync(full);
    const sha256 = path.basename(full) === 'LOCK' ? '(not read)' : createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    return { name, size: stat.size, mtimeMs: stat.mtimeMs, sha256 };
  };
  if (!fs.statSync(dir).isDirectory()) return [picture(dir, path.basename(dir))];
  const walk = (d: string, prefix: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const full = path.join(d, name);
      const stat = fs.statSync(full);
      if (stat.isDirectory()) {
        out.push({ name: prefix + name + '/', size: 0, mtimeMs: 0, sha256: '' });
        walk(full, prefix + name + '/');
      } else {
        out.push(picture(full, prefix + name));
      }
    }
  };
  walk(dir, '');
  return out;
}

/** The newest LevelDB write-ahead log file in `dir`. */
export function newestWal(dir: string): string {
  const logs = fs.readdirSync(dir).filter((n) => /^\d+\.log$/.test(n)).sort();
  if (logs.length === 0) throw new Error(`no write-ahead log in ${dir}`);
  return path.join(dir, logs[logs.length - 1]);
}

let compiledDir: string | null = null;

/**
 * Transpiles the storage module (and the Raft types and error base it imports) to plain JS in a temp directory,
 * so a child process can load it without a TypeScript loader. Type checking is tsc's job, not this.
 */
export function compiledStorageModule(): string {
  if (compiledDir) return path.join(compiledDir, 'storage', 'raft_storage.js');
  const root = path.resolve(__dirname, '../../src');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-storage-js-'));
  for (const file of ['raft/types.ts', 'util/errors.ts', 'storage/errors.ts', 'storage/keys.ts', 'storage/codec.ts', 'storage/raft_storage.ts']) {
    const js = ts.transpileModule(fs.readFileSync(path.join(root, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
    fs.writeFileSync(path.join(out, file.replace(/\.ts$/, '.js')), js);
  }
  compiledDir = out;
  return path.join(out, 'storage', 'raft_storage.js');
}

/** Runs `script` (CommonJS) in a child node process that can require the compiled store and `level`. */
export function spawnNode(script: string): ChildProcess {
  return spawn(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_PATH: path.resolve(__dirname, '../../node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with the first stdout line matching `pattern`; rejects if the child exits first. */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const hit = lines.find((l) => pattern.test(l));
      if (hit !== undefined) {
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        resolve(hit);
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`child exited (${code}) before printing ${pattern}: ${stderr}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', onExit);
  });
}

export function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
