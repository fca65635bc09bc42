// Writing and reading PEM files. Private keys are created with mode 0600 from the first byte (the
// file is written under a temporary name with that mode and renamed into place), so there is never
// a moment when another local user could read one.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CertificateError } from './certificate_error';
import type { PemCertificateAndKey } from './cluster_certs';

export const PRIVATE_KEY_FILE_MODE = 0o600;
export const CERTIFICATE_FILE_MODE = 0o644;

export interface WrittenPemFiles {
  certPath: string;
  keyPath: string;
}

export interface WritePemOptions {
  /** Replace existing files. Default false: refusing protects a key that is still in use. */
  overwrite?: boolean;
}

/** Writes `<dir>/<baseName>.crt` (0644) and `<dir>/<baseName>.key` (0600); creates `dir` (0700). */
export async function writeCertificateAndKey(
  dir: string,
  baseName: string,
  pair: PemCertificateAndKey,
  options: WritePemOptions = {},
): Promise<WrittenPemFiles> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(baseName)) {
    throw new CertificateError(`file base name ${JSON.stringify(baseName)} must be letters, digits, '.', '_' or '-'`);
  }
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const certPath = path.join(dir, `${baseName}.crt`);
  const keyPath = path.join(dir, `${baseName}.key`);
  const overwrite = options.overwrite ?? false;
  if (!overwrite) {
    for (const target of [certPath, keyPath]) {
      if (await exists(target)) {
        throw new CertificateError(`${target} already exists: move it away or ask to overwrite it`);
      }
    }
  }
  await writeFileAtomically(keyPath, pair.keyPem, PRIVATE_KEY_FILE_MODE);
  await writeFileAtomically(certPath, pair.certPem, CERTIFICATE_FILE_MODE);
  return { certPath, keyPath };
}

/** Reads a PEM file and checks it holds the expected kind of block ("CERTIFICATE", "PRIVATE KEY"). */
export async function readPemFile(filePath: string, expected: 'CERTIFICATE' | 'PRIVATE KEY'): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(filePath, 'utf8');
  } catch (err) {
    throw new CertificateError(`cannot read ${filePath}: ${(err as Error).message}`, { cause: err });
  }
  const marker = expected === 'PRIVATE KEY' ? /-----BEGIN (EC |RSA |ENCRYPTED )?PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  if (!marker.test(text)) {
    // Never quote the content: it may be a key in the wrong place.
    throw new CertificateError(`${filePath} does not contain a PEM ${expected} block`);
  }
  return text;
}

/** Reads `<dir>/<baseName>.crt` and `.key` as written by writeCertificateAndKey. */
export async function readCertificateAndKey(dir: string, baseName: string): Promise<PemCertificateAndKey> {
  return {
    certPem: await readPemFile(path.join(dir, `${baseName}.crt`), 'CERTIFICATE'),
    keyPem: await readPemFile(path.join(dir, `${baseName}.key`), 'PRIVATE KEY'),
  };
}

async function writeFileAtomically(target: string, content: string, mode: number): Promise<void> {
  const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // 'wx': fail rather than follow a file (or symlink) someone placed under the temporary name.
    const handle = await fs.open(temporary, 'wx', mode);
    try {
      await handle.writeFile(content, 'utf8');
      // The umask may have narrowed the mode further; make it exactly what we want.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, target);
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw new CertificateError(`cannot write ${target}: ${(err as Error).message}`, { cause: err });
  }
}

async function exists(filePath: string): Promise<boolean> {
  try {
    await fs.lstat(filePath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CertificateError(`cannot check ${filePath}: ${(err as Error).message}`, { cause: err });
  }
}
