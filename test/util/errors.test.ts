// RaftSignerError, the one base of raft-signer's errors: it keeps name, message, code and payload,
// and the real error classes extend it without changing their names, messages or fields.

import util from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { RaftSignerError } from '../../src/util/errors';
import { StorageCorruptError, StorageError, StorageIOError, StorageLockedError } from '../../src/storage/errors';
import { ConfigError, parseNodeConfigFile } from '../../src/config/node_config';
import { ProposalRefusedError, RaftUsageError } from '../../src/raft/errors';
import { DeadlineError, LeadershipChangedError } from '../../src/replica/sign_path';
import { NodeStoppedError } from '../../src/replica/driver';
import { RaftMessageCodecError, decodeRaftMessage } from '../../src/transport/raft_message_codec';
import { AdminError, NotLeaderAdminError, adminErrorOf } from '../../src/transport/admin_errors';
import { KeyFileError, KeyFilePermissionError } from '../../src/keys/key_file_permissions';
import { FramingError } from '../../src/privval/framing';
import { CliError, expectedErrorMessage } from '../../src/cli/cli_errors';

describe('RaftSignerError', () => {
  it('keeps name, message, code and payload', () => {
    const err = new RaftSignerError({ code: 'SOMETHING_FAILED', file: '/tmp/x', attempts: 3 }, 'something failed in /tmp/x');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(RaftSignerError);
    expect(err.name).toBe('RaftSignerError');
    expect(err.message).toBe('something failed in /tmp/x');
    expect(err.type).toEqual({ code: 'SOMETHING_FAILED', file: '/tmp/x', attempts: 3 });
    expect(err.type.code).toBe('SOMETHING_FAILED');
    expect(err.getMetadata()).toEqual({ code: 'SOMETHING_FAILED', file: '/tmp/x', attempts: 3 });
    expect(err.stack?.split('\n')[0]).toBe('RaftSignerError: something failed in /tmp/x');
  });

  it('uses the code as the message when there is none, and keeps an empty message', () => {
    expect(new RaftSignerError({ code: 'NO_MESSAGE' }).message).toBe('NO_MESSAGE');
    expect(new RaftSignerError({ code: 'EMPTY' }, '').message).toBe('');
  });

  it('passes the cause on', () => {
    const cause = new Error('disk full');
    expect(new RaftSignerError({ code: 'X' }, 'x', { cause }).cause).toBe(cause);
    expect('cause' in new RaftSignerError({ code: 'X' }, 'x')).toBe(false);
  });

  it('lets a subclass set its name, and getMetadata is a copy', () => {
    class SampleError extends RaftSignerError<{ code: 'SAMPLE'; n: number }> {
      constructor(n: number) {
        super({ code: 'SAMPLE', n }, 'sample');
        this.name = 'SampleError';
      }
    }
    const err = new SampleError(1);
    expect(err.name).toBe('SampleError');
    expect(err.stack?.split('\n')[0]).toBe('SampleError: sample');
    const metadata = err.getMetadata();
    metadata.n = 2;
    expect(err.type.n).toBe(1);
  });

  it('adds no enumerable property, so inspect and loggers show errors as before', () => {
    const err = new StorageLockedError('/data/node1');
    expect(Object.keys(err).sort()).toEqual(['dir', 'name']);
    expect(util.inspect(err)).not.toContain('STORAGE_LOCKED');
    // Own properties in the order they had: StorageError's constructor names it before the
    // subclass's parameter properties; a direct subclass has its parameter properties, then name.
    expect(JSON.stringify(err)).toBe('{"name":"StorageLockedError","dir":"/data/node1"}');
    expect(Object.keys(new ProposalRefusedError('not-leader', 'm', 'node2'))).toEqual(['reason', 'leaderHint', 'name']);
  });
});

describe('the error classes extend RaftSignerError', () => {
  it('storage: StorageCorruptError, StorageIOError', () => {
    const err = new StorageCorruptError('/data/node1', 'checksum mismatch in log entry 7');
    expect(err).toBeInstanceOf(RaftSignerError);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.name).toBe('StorageCorruptError');
    expect(err.message).toBe(
      'store at /data/node1 is corrupt: checksum mismatch in log entry 7; restore the data directory from a backup, ' +
        'or delete it and rejoin this node as a learner (docs/operations.md, "A lost or replaced disk")',
    );
    expect(err.type).toEqual({ code: 'STORAGE_CORRUPT', dir: '/data/node1', problem: 'checksum mismatch in log entry 7' });
    expect(err.dir).toBe('/data/node1');
    expect(err.problem).toBe('checksum mismatch in log entry 7');

    const cause = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const io = new StorageIOError('/data/node1', 'write', cause);
    expect(io).toBeInstanceOf(RaftSignerError);
    expect(io.type).toEqual({ code: 'STORAGE_IO', dir: '/data/node1', operation: 'write' });
    expect(io.message).toBe('write failed on the store at /data/node1: ENOSPC: no space left on device');
    expect(io.cause).toBe(cause);
  });

  it('config: ConfigError, as parseNodeConfigFile throws it', () => {
    let err: unknown;
    try {
      parseNodeConfigFile('', '/home/node1/config.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(RaftSignerError);
    const config = err as ConfigError;
    expect(config.name).toBe('ConfigError');
    expect(config.message).toBe('/home/node1/config.yaml: the file is empty: it must set at least id, listen, peers and tls');
    expect(config.type.code).toBe('CONFIG_INVALID');
    expect(config.type.source).toBe('/home/node1/config.yaml');
    expect(config.type.problems).toEqual(config.problems);
  });

  it('raft: ProposalRefusedError, RaftUsageError', () => {
    const err = new ProposalRefusedError('not-leader', 'not the leader', 'node2');
    expect(err).toBeInstanceOf(RaftSignerError);
    expect(err.name).toBe('ProposalRefusedError');
    expect(err.message).toBe('not the leader');
    expect(err.reason).toBe('not-leader');
    expect(err.leaderHint).toBe('node2');
    expect(err.type).toEqual({ code: 'PROPOSAL_REFUSED', reason: 'not-leader', leaderHint: 'node2' });
    expect(new ProposalRefusedError('conf-change-pending', 'wait').type.leaderHint).toBeNull();

    const usage = new RaftUsageError('advance() without a Ready');
    expect(usage).toBeInstanceOf(RaftSignerError);
    expect(usage.type.code).toBe('RAFT_USAGE');
    expect(usage.message).toBe('advance() without a Ready');
  });

  it('replica: NodeStoppedError, DeadlineError, LeadershipChangedError', () => {
    const stopped = new NodeStoppedError('node is stopping');
    expect(stopped).toBeInstanceOf(RaftSignerError);
    expect(stopped.name).toBe('NodeStoppedError');
    expect(stopped.message).toBe('node is stopping');
    expect(stopped.type.code).toBe('NODE_STOPPED');

    const deadline = new DeadlineError('sign (entry 12) was not committed within 500 ms (no quorum?)');
    expect(deadline).toBeInstanceOf(RaftSignerError);
    expect(deadline.name).toBe('DeadlineError');
    expect(deadline.message).toBe('sign (entry 12) was not committed within 500 ms (no quorum?)');
    expect(deadline.reason).toBe('deadline');
    expect(deadline.type).toEqual({ code: 'DEADLINE', reason: 'deadline' });

    const changed = new LeadershipChangedError('leadership changed before the import was committed; nothing was imported, try again');
    expect(changed).toBeInstanceOf(RaftSignerError);
    expect(changed.name).toBe('LeadershipChangedError');
    expect(changed.type.code).toBe('LEADERSHIP_CHANGED');
  });

  it('transport: RaftMessageCodecError, as decodeRaftMessage throws it', () => {
    expect(() => decodeRaftMessage(null)).toThrow(RaftMessageCodecError);
    try {
      decodeRaftMessage(null);
    } catch (e) {
      expect(e).toBeInstanceOf(RaftSignerError);
      expect((e as RaftMessageCodecError).name).toBe('RaftMessageCodecError');
      expect((e as RaftMessageCodecError).message).toBe('RaftMessage is not an object');
      expect((e as RaftMessageCodecError).type.code).toBe('RAFT_MESSAGE_CODEC');
    }
  });

  it('transport: AdminError keeps its own code, gRPC status and metadata; the base code maps it', () => {
    const err = new NotLeaderAdminError('node1', 'node2', 'node2.example:26660');
    expect(err).toBeInstanceOf(AdminError);
    expect(err).toBeInstanceOf(RaftSignerError);
    expect(err.name).toBe('NotLeaderAdminError');
    expect(err.message).toBe('node node1 is not the leader; send this to the leader, node2 (node2.example:26660)');
    expect(err.code).toBe('not-leader');
    expect(err.retryable).toBe(true);
    expect(err.type).toEqual({
      code: 'ADMIN_NOT_LEADER',
      adminCode: 'not-leader',
      nodeId: 'node1',
      leader: { id: 'node2', address: 'node2.example:26660' },
    });
    expect(new NotLeaderAdminError('node1', null).type.code).toBe('ADMIN_NO_LEADER');

    const status = err.toServiceError();
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toBe(err.message);
    const back = adminErrorOf({ ...status, message: 'x' });
    expect(back).toBeInstanceOf(AdminError);
    expect(back?.code).toBe('not-leader');
    expect(back?.type.code).toBe('ADMIN_NOT_LEADER');
    expect(back?.message).toBe(err.message);
  });

  it('families with a code of their own keep it: KeyFileError, FramingError', () => {
    const perm = new KeyFilePermissionError('/home/node1/key.json', 0o644, 'key file');
    expect(perm).toBeInstanceOf(KeyFileError);
    expect(perm).toBeInstanceOf(RaftSignerError);
    expect(perm.name).toBe('KeyFilePermissionError');
    expect(perm.message).toBe(
      'key file /home/node1/key.json has mode 0644: it must be readable by its owner only; run: chmod 600 /home/node1/key.json',
    );
    expect(perm.type).toEqual({ code: 'KEY_FILE_PERMISSIONS', path: '/home/node1/key.json', mode: 0o644 });
    expect(new KeyFileError('/x', 'bad').type).toEqual({ code: 'KEY_FILE', path: '/x' });

    const framing = new FramingError('truncated', 'frame truncated');
    expect(framing).toBeInstanceOf(RaftSignerError);
    expect(framing.code).toBe('truncated');
    expect(framing.type).toEqual({ code: 'FRAMING_TRUNCATED', framingCode: 'truncated' });
  });
});

describe("the CLI's expected errors are the same as before the base", () => {
  it('an expected family still prints its message; another RaftSignerError is still a bug', () => {
    expect(expectedErrorMessage(new CliError('no such chain'))).toBe('no such chain');
    expect(expectedErrorMessage(new StorageLockedError('/d'))).toBe(
      '/d is in use by another raft-signer process; stop that process first, or give this node its own data directory',
    );
    expect(expectedErrorMessage(new RaftUsageError('advance() without a Ready'))).toBeNull();
    expect(expectedErrorMessage(new NodeStoppedError('node is stopping'))).toBeNull();
    expect(expectedErrorMessage(new RaftSignerError({ code: 'X' }, 'x'))).toBeNull();
  });
});
