// `raft-signer cluster transfer-leader | add-learner | promote | remove`: leadership and membership
// through the Admin service (src/transport/admin_client.ts, src/transport/admin_server.ts,
// src/node/cluster_admin.ts).
//
// Who the CLI is: either a node (--home DIR: its config.yaml for the members' addresses, its node
// certificate, which the cluster accepts for changes while that node is a voter) or an operator
// (--admin DIR: the testnet's admin/ directory with tls/ca.pem, tls/admin.pem, tls/admin.key, plus
// --endpoints naming one or more members to ask). Any member can be asked: a follower answers with
// the leader's id and address, and the CLI asks the leader. Transient refusals (no leader during an
// election, a change still committing, a learner still catching up) are retried until --timeout;
// anything else is reported at once with the node that answered and what to do.

import { Command, InvalidArgumentError } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isValidCertificateName } from '../certs/certificate_identity';
import { loadNodeConfig, parseHostPort } from '../config/node_config';
import { MembershipChange, MembershipView, TransferLeaderView } from '../transport/admin_views';
import { AdminTarget, sendMembershipChange, sendTransferLeader } from '../transport/admin_client';
import { AdminError, adminErrorOf } from '../transport/admin_errors';
import { clusterChannelCredentials, TlsPem } from '../transport/grpc_server';
import { CliError } from './cli_errors';
import { grpcErrorText } from '../node/cluster_client';
import { sleep } from '../util/sleep';

/** Default for --timeout: an election, a learner's catch-up or a pending change usually clears in seconds. */
export const DEFAULT_ADMIN_TIMEOUT_MS = 15_000;
const RETRY_PAUSE_MS = 250;
/**
 * Longest one call may take: a node that is paused or cut off must not use up the whole --timeout
 * before the next member is tried. A change commits in milliseconds when a majority answers, so
 * the leader's wait for the commit (bounded by this) is plenty.
 */
const MAX_ATTEMPT_MS = 5000;
/** Redirects followed in a row before pausing (two nodes may name each other during an election). */
const MAX_HOPS_WITHOUT_PAUSE = 3;
/** TLS SNI and authority when the node's id is not known yet (--endpoints): the certificate check is what counts. */
const UNKNOWN_SERVER_NAME = 'raft-signer-node';

/** A member to ask: its address, and its id when known (its certificate must then name it). */
export interface Endpoint {
  id: string | null;
  address: string;
}

/** How the CLI reaches the cluster: where to start, and credentials for any member. */
export interface AdminConnection {
  endpoints: Endpoint[];
  credentialsFor(id: string | null): grpc.ChannelCredentials;
}

export interface ConnectionOptions {
  home?: string;
  admin?: string;
  endpoints?: string[];
}

/** The admin connection from --home or --admin (exactly one), see the file header. */
export function adminConnection(opts: ConnectionOptions): AdminConnection {
  if ((opts.home === undefined) === (opts.admin === undefined)) {
    throw new CliError('give either --home DIR (a voter node\'s home) or --admin DIR (the admin client directory, with --endpoints)');
  }
  const read = (file: string, what: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
    }
  };
  if (opts.home !== undefined) {
    const config = loadNodeConfig(opts.home);
    const tls: TlsPem = { ca: read(config.tls.ca, 'cluster CA'), cert: read(config.tls.cert, 'node certificate'), key: read(config.tls.key, 'node key') };
    // This node first (it is a member and answers with the leader), then the others.
    const peers = [...config.peers].sort((a, b) => (a.id === config.id ? -1 : b.id === config.id ? 1 : 0));
    const endpoints = opts.endpoints ? opts.endpoints.map((address) => ({ id: null, address })) : peers.map((p) => ({ id: p.id, address: p.address }));
    return {
      endpoints,
      credentialsFor: (id) => clusterChannelCredentials(tls, id ?? undefined, 'node'),
    };
  }
  const dir = opts.admin as string;
  const tlsDir = path.join(dir, 'tls');
  const tls: TlsPem = {
    ca: read(path.join(tlsDir, 'ca.pem'), 'cluster CA'),
    cert: read(path.join(tlsDir, 'admin.pem'), 'admin client certificate'),
    key: read(path.join(tlsDir, 'admin.key'), 'admin client key'),
  };
  if (!opts.endpoints || opts.endpoints.length === 0) {
    throw new CliError('--admin needs --endpoints HOST:PORT[,HOST:PORT...]: the address of at least one member to ask');
  }
  return {
    endpoints: opts.endpoints.map((address) => ({ id: null, address })),
    credentialsFor: (id) => clusterChannelCredentials(tls, id ?? undefined, 'client'),
  };
}

function endpointName(e: Endpoint): string {
  return e.id ? `${e.id} (${e.address})` : e.address;
}

/**
 * Runs `call` against the leader: asks the endpoints in turn, follows "not the leader, ask X",
 * and retries transient refusals until `timeoutMs`. Resolves with the answer and who gave it.
 */
export async function withLeader<T>(
  connection: AdminConnection,
  timeoutMs: number,
  call: (target: AdminTarget, deadlineMs: number) => Promise<T>,
): Promise<{ result: T; answeredBy: Endpoint }> {
  const deadline = Date.now() + timeoutMs;
  let queue: Endpoint[] = [...connection.endpoints];
  let lastRefusal: AdminError | null = null;
  const unreachable = new Map<string, string>();
  let hops = 0;
  for (;;) {
    const next = queue.shift();
    if (next === undefined) {
      // A round with no leader found: wait a little and go round again, until the timeout.
      if (Date.now() + RETRY_PAUSE_MS >= deadline) throw giveUp(lastRefusal, unreachable, timeoutMs);
      await sleep(RETRY_PAUSE_MS);
      queue = [...connection.endpoints];
      continue;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw giveUp(lastRefusal, unreachable, timeoutMs);
    const target: AdminTarget = { address: next.address, credentials: connection.credentialsFor(next.id), serverName: next.id ?? UNKNOWN_SERVER_NAME };
    try {
      return { result: await call(target, Math.min(remaining, MAX_ATTEMPT_MS)), answeredBy: next };
    } catch (e) {
      const refusal = adminErrorOf(e);
      if (refusal === null) {
        unreachable.set(endpointName(next), grpcErrorText(e));
        continue;
      }
      lastRefusal = refusal;
      // The server's message names the node that answered and what to do.
      if (!refusal.retryable) throw new CliError(refusal.message);
      if (refusal.code === 'not-leader' && refusal.leader?.address) {
        // Straight to the leader; the node id is known now, so its certificate must name it.
        // During an election two nodes may point at each other: pause after a few hops.
        if (++hops > MAX_HOPS_WITHOUT_PAUSE) {
          hops = 0;
          await sleep(Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - Date.now())));
        }
        const leader = { id: refusal.leader.id, address: refusal.leader.address };
        queue = [leader, ...queue.filter((q) => q.address !== leader.address)];
        continue;
      }
      hops = 0;
      if (refusal.code === 'not-leader' || refusal.code === 'no-leader') continue; // ask the others; the round restarts after a pause
      // The leader answered "not now" (a change committing, a learner catching up): ask it again after a pause.
      queue = [next, ...queue.filter((q) => q !== next)];
      await sleep(Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

function giveUp(lastRefusal: AdminError | null, unreachable: Map<string, string>, timeoutMs: number): CliError {
  const down = [...unreachable].map(([who, why]) => `${who}: ${why}`).join('; ');
  if (lastRefusal) {
    return new CliError(`gave up after ${timeoutMs} ms; the last answer: ${lastRefusal.message}${down ? ` (no answer from ${down})` : ''}`);
  }
  return new CliError(`no member answered within ${timeoutMs} ms (${down || 'no endpoint to ask'}); check that the nodes run and that the addresses are right`);
}

function formatMembership(v: MembershipView): string {
  return `voters: ${v.voters.join(', ') || 'none'}; learners: ${v.learners.join(', ') || 'none'}`;
}

export function formatTransfer(v: TransferLeaderView, answeredBy: Endpoint): string {
  if (v.leader === v.from) return `${v.leader} already leads (term ${v.term}); nothing to do\n`;
  return `leadership moved from ${v.from} to ${v.leader} (term ${v.term}); asked ${endpointName(answeredBy)}\n`;
}

export function formatMembershipChange(v: MembershipView, answeredBy: Endpoint): string {
  const what = v.changed ? `done (entry ${v.index}, committed): ${v.message}` : `nothing to do: ${v.message}`;
  return `${what}\n${formatMembership(v)}; leader ${v.leader || 'not known yet (an election is running)'} (asked ${endpointName(answeredBy)})\n`;
}

function parseWholeNumber(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return Number(value);
}

function parseEndpoints(value: string): string[] {
  const list = value.split(',').map((v) => v.trim());
  for (const v of list) if (!parseHostPort(v)) throw new InvalidArgumentError(`"${v}" is not host:port`);
  return list;
}

function parseNodeId(value: string): string {
  if (!isValidCertificateName(value)) throw new InvalidArgumentError("must be a node id (letters, digits, '-' and '.')");
  return value;
}

function parseStoreId(value: string): string {
  if (!/^[0-9a-f]{32}$/.test(value)) throw new InvalidArgumentError("must be a store id: 32 hex digits, as the node's status shows");
  return value;
}

function parseAddress(value: string): string {
  if (!parseHostPort(value)) throw new InvalidArgumentError('must be host:port (IPv6 in brackets)');
  return value;
}

interface CommonOptions {
  home?: string;
  admin?: string;
  endpoints?: string[];
  timeout: number;
  json?: boolean;
}

function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--home <dir>', "a voter node's home directory: its config.yaml and node certificate")
    .option('--admin <dir>', 'the admin client directory (tls/ca.pem, tls/admin.pem, tls/admin.key); needs --endpoints')
    .option('--endpoints <list>', 'host:port of members to ask, comma-separated (default with --home: its config.yaml peers)', parseEndpoints)
    .option('--timeout <ms>', 'give up after this many milliseconds', parseWholeNumber, DEFAULT_ADMIN_TIMEOUT_MS)
    .option('--json', 'one JSON object on stdout');
}

async function runChange(opts: CommonOptions, change: MembershipChange): Promise<void> {
  const connection = adminConnection(opts);
  const { result, answeredBy } = await withLeader(connection, opts.timeout, (target, deadlineMs) => sendMembershipChange(target, change, deadlineMs));
  if (opts.json) process.stdout.write(JSON.stringify({ ...result, answeredBy: answeredBy.id ?? answeredBy.address }) + '\n');
  else process.stdout.write(formatMembershipChange(result, answeredBy));
}

/** Adds `cluster` and its subcommands to the program. */
export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('leadership and membership of the cluster (admin client certificate or a voter\'s home)');

  withConnectionOptions(
    cluster
      .command('transfer-leader')
      .description('hand leadership to another voter (default: the most up-to-date one) and wait until it leads')
      .option('--to <node>', 'the voter to hand leadership to', parseNodeId),
  ).action(async (opts: CommonOptions & { to?: string }) => {
    const connection = adminConnection(opts);
    const { result, answeredBy } = await withLeader(connection, opts.timeout, (target, deadlineMs) =>
      sendTransferLeader(target, opts.to ?? null, deadlineMs),
    );
    if (opts.to !== undefined && result.leader !== opts.to) {
      throw new CliError(`leadership went to ${result.leader} (term ${result.term}), not ${opts.to}: an election intervened; run the command again`);
    }
    if (opts.json) process.stdout.write(JSON.stringify({ ...result, answeredBy: answeredBy.id ?? answeredBy.address }) + '\n');
    else process.stdout.write(formatTransfer(result, answeredBy));
  });

  withConnectionOptions(
    cluster
      .command('add-learner')
      .description('add a non-voting member (passive standby): it replicates the log and signs nothing until promoted')
      .requiredOption('--id <node>', "the new node's id (the CN of its node certificate)", parseNodeId)
      .requiredOption('--address <host:port>', "where the new node's gRPC server listens, as the members will dial it", parseAddress)
      .option('--store-id <hex>', "the new node's store id (32 hex digits; default: the leader asks the running node)", parseStoreId),
  ).action((opts: CommonOptions & { id: string; address: string; storeId?: string }) =>
    runChange(opts, { kind: 'add-learner', id: opts.id, address: opts.address, ...(opts.storeId ? { storeId: opts.storeId } : {}) }),
  );

  withConnectionOptions(
    cluster
      .command('promote')
      .description('make a learner a voter once it has caught up (retried until --timeout while it catches up)')
      .requiredOption('--id <node>', 'the learner', parseNodeId),
  ).action((opts: CommonOptions & { id: string }) => runChange(opts, { kind: 'promote', id: opts.id }));

  withConnectionOptions(
    cluster
      .command('remove')
      .description('remove a voter or a learner; stop its process afterwards')
      .requiredOption('--id <node>', 'the member to remove', parseNodeId),
  ).action((opts: CommonOptions & { id: string }) => runChange(opts, { kind: 'remove', id: opts.id }));
}
