// Typed errors of the durable store. Every message names the directory and says what the operator
// can do, because these errors stop a signer node and the person reading them is on call.

import { RaftSignerError, RaftSignerErrorType } from '../util/errors';

/** What to do with a store that cannot be trusted. Raft can rebuild a node from its peers. */
export const CORRUPT_STORE_REMEDY =
  'restore the data directory from a backup, or delete it and rejoin this node as a learner (docs/operations.md, "A lost or replaced disk")';

/**
 * Base class: anything the store refuses or fails to do. Subclasses pass their own `type` (code
 * and payload); a plain StorageError has the code 'STORAGE_ERROR'.
 */
export class StorageError<T extends RaftSignerErrorType = RaftSignerErrorType> extends RaftSignerError<T> {
  constructor(message: string, options?: { cause?: unknown }, type: T = { code: 'STORAGE_ERROR' } as T) {
    super(type, message, options);
    this.name = 'StorageError';
  }
}

/**
 * The store exists but its content cannot be trusted: a checksum mismatch, a gap in the log, a
 * record LevelDB cannot read, a commit index beyond the log. Raised only at open or on a read; the
 * store is left exactly as it was found.
 */
export class StorageCorruptError extends StorageError<{ code: 'STORAGE_CORRUPT'; dir: string; problem: string }> {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(`store at ${dir} is corrupt: ${problem}; ${CORRUPT_STORE_REMEDY}`, undefined, { code: 'STORAGE_CORRUPT', dir, problem });
    this.name = 'StorageCorruptError';
  }
}

/** The store was written by another node or another cluster: the configuration points at the wrong directory. */
export class StorageIdentityError extends StorageError<{
  code: 'STORAGE_IDENTITY_MISMATCH';
  dir: string;
  stored: { nodeId: string; clusterId: string };
  expected: { nodeId: string; clusterId: string };
}> {
  constructor(
    readonly dir: string,
    readonly stored: { nodeId: string; clusterId: string },
    readonly expected: { nodeId: string; clusterId: string },
  ) {
    super(
      `store at ${dir} belongs to node ${stored.nodeId} / cluster ${stored.clusterId}, ` +
        `not node ${expected.nodeId} / cluster ${expected.clusterId}; ` +
        'check the data directory and the node id and cluster id in the configuration',
      undefined,
      { code: 'STORAGE_IDENTITY_MISMATCH', dir, stored, expected },
    );
    this.name = 'StorageIdentityError';
  }
}

/** Another process (or another open handle in this process) has the store open. */
export class StorageLockedError extends StorageError<{ code: 'STORAGE_LOCKED'; dir: string }> {
  constructor(readonly dir: string) {
    super(
      `${dir} is in use by another raft-signer process; stop that process first, ` +
        'or give this node its own data directory',
      undefined,
      { code: 'STORAGE_LOCKED', dir },
    );
    this.name = 'StorageLockedError';
  }
}

/** The directory holds files that are not a raft-signer store: most likely the wrong path. */
export class StorageNotAStoreError extends StorageError<{ code: 'STORAGE_NOT_A_STORE'; dir: string; reason: string }> {
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(
      `${dir} is not a raft-signer store: ${reason}; point the node at an empty or missing directory ` +
        'to create a new store, or at its existing data directory',
      undefined,
      { code: 'STORAGE_NOT_A_STORE', dir, reason },
    );
    this.name = 'StorageNotAStoreError';
  }
}

/** The store was written by a newer raft-signer whose format this version does not know. */
export class StorageFormatError extends StorageError<{
  code: 'STORAGE_FORMAT_UNSUPPORTED';
  dir: string;
  foundVersion: number;
  supportedVersion: number;
}> {
  constructor(
    readonly dir: string,
    readonly foundVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      `store at ${dir} has format version ${foundVersion}, this raft-signer reads version ${supportedVersion}; ` +
        'run the raft-signer version that wrote it',
      undefined,
      { code: 'STORAGE_FORMAT_UNSUPPORTED', dir, foundVersion, supportedVersion },
    );
    this.name = 'StorageFormatError';
  }
}

/**
 * The caller asked for a write that would leave a store that open() refuses (a log gap, a term
 * going backwards, a second vote in one term...). Nothing was written. This is a bug in the caller.
 */
export class StorageContractError extends StorageError<{ code: 'STORAGE_CONTRACT_VIOLATION'; dir: string; problem: string }> {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(`refused to write to the store at ${dir}: ${problem}; nothing was written (this is a bug in the caller)`, undefined, {
      code: 'STORAGE_CONTRACT_VIOLATION',
      dir,
      problem,
    });
    this.name = 'StorageContractError';
  }
}

/**
 * A write or read failed underneath (disk full, I/O error, fsync failure). After a failed write
 * the store refuses all further writes: what reached the disk is unknown until the process restarts
 * and open() verifies it again.
 */
export class StorageIOError extends StorageError<{ code: 'STORAGE_IO'; dir: string; operation: string }> {
  constructor(
    readonly dir: string,
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation} failed on the store at ${dir}: ${describeCause(cause)}`, { cause }, { code: 'STORAGE_IO', dir, operation });
    this.name = 'StorageIOError';
  }
}

/** The store was closed, or an earlier write failed and the store stopped accepting writes. */
export class StorageUnavailableError extends StorageError<{ code: 'STORAGE_UNAVAILABLE'; dir: string; reason: string }> {
  constructor(
    readonly dir: string,
    reason: string,
  ) {
    super(`the store at ${dir} is unavailable: ${reason}`, undefined, { code: 'STORAGE_UNAVAILABLE', dir, reason });
    this.name = 'StorageUnavailableError';
  }
}

/** The message of an error from below, with LevelDB's underlying cause when it wraps one. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    const code = (cause as Error & { code?: unknown }).code;
    let text = typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
    if (inner instanceof Error) text += ` (${describeCause(inner)})`;
    return text;
  }
  return String(cause);
}

/**
 * A stored record failed to decode (checksum mismatch, truncated, malformed). Internal to the
 * storage module: RaftStorage turns it into a StorageCorruptError naming the record and the path.
 */
export class RecordDecodeError extends RaftSignerError<{ code: 'RECORD_DECODE' }> {
  constructor(message: string) {
    super({ code: 'RECORD_DECODE' }, message);
    this.name = 'RecordDecodeError';
  }
}
