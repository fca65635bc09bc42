// Reading and writing files that hold secrets (validator keys, encrypted keys, passphrases).
//
// Readers refuse a file that group or others may read or write, the way ssh refuses a private key
// with loose permissions: a validator key that another account can copy is a key that can be used
// to double-sign, and one that another account can replace is a key that can be swapped.
// Writers create files with mode 0600 (and directories 0700) and replace them atomically, so a
// crash never leaves a half-written key behind.

import fs from 'node:fs';
import path from 'node:path';
import { RaftSignerError, RaftSignerErrorType } from '../util/errors';

/** The only mode a secret file may have on disk (owner read/write). 0400 is accepted too. */
export const SECRET_FILE_MODE = 0o600;
/** Directories created for secret files: owner only. */
export const SECRET_DIR_MODE = 0o700;
/** Key and passphrase files are tiny; refusing anything larger stops a wrong path (a log, a disk
 * image) from being read into memory whole. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * An error about a key-related file on disk; `path` names the file. Subclasses pass their own
 * `type` (code and payload, which includes the path); a plain KeyFileError has the code 'KEY_FILE'.
 */
export class KeyFileError<T extends RaftSignerErrorType & { path: string } = RaftSignerErrorType & { path: string }> extends RaftSignerError<T> {
  constructor(
    readonly path: string,
    message: string,
    type: T = { code: 'KEY_FILE', path } as T,
  ) {
    super(type, message);
    this.name = 'KeyFileError';
  }
}

/** The file's permissions let group or others read or write it. */
export class KeyFilePermissionError extends KeyFileError<{ code: 'KEY_FILE_PERMISSIONS'; path: string; mode: number }> {
  constructor(
    filePath: string,
    readonly mode: number,
    what: string,
  ) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    super(
      filePath,
      `${what} ${filePath} has mode ${octal}: it must be readable by its owner only; run: chmod 600 ${filePath}`,
      { code: 'KEY_FILE_PERMISSIONS', path: filePath, mode },
    );
    this.name = 'KeyFilePermissionError';
  }
}

/**
 * Throws KeyFilePermissionError if `mode` (from stat) gives group or others any access.
 * `what` names the kind of file in the message ("key file", "passphrase file").
 */
export function assertOwnerOnlyMode(filePath: string, mode: number, what = 'key file'): void {
  // Windows has no POSIX mode bits (Node reports 0o666 for every writable file), so the check
  // would refuse every key there; raft-signer runs on Linux and macOS, where it means something.
  if (process.platform === 'win32') return;
  if ((mode & 0o077) !== 0) throw new KeyFilePermissionError(filePath, mode, what);
}

/**
 * Reads a secret file after checking, on the open descriptor (so the file checked is the file
 * read), that it is a regular file with owner-only permissions and not implausibly large.
 * The caller should `fill(0)` the returned buffer when done with it.
 */
export function readSecretFile(filePath: string, what = 'key file'): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(filePath, fs.constants.O_RDONLY);
  } catch (err) {
    throw fileOpenError(filePath, err, what);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new KeyFileError(filePath, `${what} ${filePath} is not a regular file`);
    assertOwnerOnlyMode(filePath, stat.mode, what);
    if (stat.size > MAX_SECRET_FILE_BYTES) {
      throw new KeyFileError(
        filePath,
        `${what} ${filePath} is ${stat.size} bytes, more than any key file (${MAX_SECRET_FILE_BYTES}): is the path right?`,
      );
    }
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface WriteSecretFileOptions {
  /** Replace an existing file. Default false: never overwrite a key by accident. */
  overwrite?: boolean;
  /** Names the kind of file in error messages; default "key file". */
  what?: string;
}

/**
 * Writes a secret file with mode 0600: to a temporary file in the same directory (created 0700 if
 * missing), fsynced, then moved into place, then the directory fsynced, so that after a crash the
 * path holds either the old content or the new, never a torn write.
 */
export function writeSecretFile(
  filePath: string,
  data: string | Uint8Array,
  options: WriteSecretFileOptions = {},
): void {
  const what = options.what ?? 'key file';
  const dir = path.dirname(path.resolve(filePath));
  fs.mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  if (!options.overwrite && fs.existsSync(filePath)) {
    throw new KeyFileError(
      filePath,
      `${what} ${filePath} already exists: refusing to overwrite it; move it away first if you mean to replace it`,
    );
  }
  const tmpPath = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${Date.now()}.tmp`);
  // 'wx': fail rather than follow a symlink someone planted at the temporary name.
  const fd = fs.openSync(tmpPath, 'wx', SECRET_FILE_MODE);
  try {
    try {
      // The mode given to open is filtered by the umask; set it explicitly.
      fs.fchmodSync(fd, SECRET_FILE_MODE);
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (options.overwrite) {
      fs.renameSync(tmpPath, filePath);
    } else {
      // link() fails with EEXIST if the file appeared since the check above: no race can make
      // us overwrite a key we were told not to.
      try {
        fs.linkSync(tmpPath, filePath);
      } catch (err) {
        if (isErrnoCode(err, 'EEXIST')) {
          throw new KeyFileError(filePath, `${what} ${filePath} already exists: refusing to overwrite it`);
        }
        throw err;
      }
      fs.unlinkSync(tmpPath);
    }
  } catch (err) {
    fs.rmSync(tmpPath, { force: true });
    throw err;
  }
  fsyncDirectory(dir);
}

/** Makes a rename or link in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY);
    fs.fsyncSync(fd);
  } catch (err) {
    // Some platforms and file systems cannot fsync a directory (EISDIR, EINVAL); the data file
    // itself was fsynced, which is the best they allow.
    if (!isErrnoCode(err, 'EISDIR') && !isErrnoCode(err, 'EINVAL') && !isErrnoCode(err, 'EPERM')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function isErrnoCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

function fileOpenError(filePath: string, err: unknown, what: string): KeyFileError {
  if (isErrnoCode(err, 'ENOENT')) return new KeyFileError(filePath, `${what} ${filePath} not found`);
  if (isErrnoCode(err, 'EACCES')) {
    return new KeyFileError(filePath, `${what} ${filePath} cannot be read by this user (permission denied)`);
  }
  if (isErrnoCode(err, 'EISDIR')) return new KeyFileError(filePath, `${what} ${filePath} is a directory`);
  const reason = err instanceof Error ? err.message : String(err);
  return new KeyFileError(filePath, `${what} ${filePath} cannot be opened: ${reason}`);
}
