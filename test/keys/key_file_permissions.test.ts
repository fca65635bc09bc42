import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assertOwnerOnlyMode,
  KeyFileError,
  KeyFilePermissionError,
  MAX_SECRET_FILE_BYTES,
  readSecretFile,
  writeSecretFile,
} from '../../src/keys/key_file_permissions';

let dir: string;
let savedUmask: number;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'key-perms-'));
  savedUmask = process.umask();
});
afterEach(() => {
  process.umask(savedUmask);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('assertOwnerOnlyMode', () => {
  it.each([
    ['0600', 0o600],
    ['0400', 0o400],
    ['0700', 0o700],
    ['0600 with the regular-file bits', 0o100600],
  ])('accepts mode %s', (_label, mode) => {
    expect(() => assertOwnerOnlyMode('/k', mode)).not.toThrow();
  });

  it.each([
    [0o644, '0644'],
    [0o640, '0640'],
    [0o604, '0604'],
    [0o620, '0620'],
    [0o602, '0602'],
    [0o100660, '0660'],
  ])('refuses mode bits %d (shown as %s), saying how to fix it', (mode, octal) => {
    let caught: unknown;
    try {
      assertOwnerOnlyMode('/etc/k.json', mode, 'passphrase file');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KeyFilePermissionError);
    expect((caught as Error).message).toBe(
      `passphrase file /etc/k.json has mode ${octal}: it must be readable by its owner only; run: chmod 600 /etc/k.json`,
    );
  });
});

describe('readSecretFile', () => {
  it('reads a 0600 file and refuses it once group-readable', () => {
    const file = path.join(dir, 'k');
    fs.writeFileSync(file, 'secret', { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    expect(readSecretFile(file).toString()).toBe('secret');
    fs.chmodSync(file, 0o640);
    expect(() => readSecretFile(file)).toThrow(/has mode 0640/);
  });

  it('refuses a directory and an oversized file, and names a missing one', () => {
    expect(() => readSecretFile(dir)).toThrow(`key file ${dir} is not a regular file`);
    const big = path.join(dir, 'big');
    fs.writeFileSync(big, Buffer.alloc(MAX_SECRET_FILE_BYTES + 1), { mode: 0o600 });
    fs.chmodSync(big, 0o600);
    expect(() => readSecretFile(big)).toThrow(/more than any key file/);
    expect(() => readSecretFile(path.join(dir, 'nope'))).toThrow(KeyFileError);
    expect(() => readSecretFile(path.join(dir, 'nope'))).toThrow(/not found/);
  });
});

describe('writeSecretFile', () => {
  it('creates the file 0600 and missing directories 0700, even under a permissive umask', () => {
    process.umask(0o000);
    const file = path.join(dir, 'a', 'b', 'key.json');
    writeSecretFile(file, 'data');
    expect(fs.readFileSync(file, 'utf8')).toBe('data');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'a', 'b')).mode & 0o777).toBe(0o700);
  });

  it('leaves no temporary file behind, whether it succeeds or refuses', () => {
    const file = path.join(dir, 'key.json');
    writeSecretFile(file, 'one');
    expect(() => writeSecretFile(file, 'two')).toThrow(/already exists/);
    expect(fs.readFileSync(file, 'utf8')).toBe('one');
    writeSecretFile(file, 'three', { overwrite: true });
    expect(fs.readFileSync(file, 'utf8')).toBe('three');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['key.json']);
  });
});
