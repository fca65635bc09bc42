// The Admin gRPC service on a node's shared server (wire: admin_wire.ts, client: admin_client.ts).
//
// The server requires a certificate that chains to the cluster CA (mutual TLS) and authorizes every
// call before it reaches a handler here (src/transport/authorization.ts, which holds the table):
//  - reads (Status, ChainState): the admin client certificate, or a member's node certificate;
//  - changes (ImportState, TransferLeader, AddLearner, Promote, Remove): an admin client
//    certificate (role client: what `testnet` writes to admin/ for operators, `--admin DIR`), or
//    the node certificate of a current VOTER (`--home` of a voter). A voter's certificate already
//    carries full authority over the log (it votes, it may lead, and a leader proposes any change
//    it likes), so accepting it adds no power; a learner's, a removed node's or a not-yet-added
//    node's certificate carries none, and accepting it would let a standby promote itself or a
//    removed node add itself back. A refusal carries the AdminError code 'not-authorized'
//    (decorateAdminRefusal, admin_errors.ts).
//
// Changes are carried out by the leader only. Another node answers FAILED_PRECONDITION with the
// leader's id and address in the trailing metadata, and the CLI asks the leader (forwarding on
// the server would need the node to hold an admin-capable client of its own and to pass the
// caller's identity along; a redirect keeps the caller's own certificate on every hop).
// Every refusal is an AdminError (admin_errors.ts).

import * as grpc from '@grpc/grpc-js';
import type { AdminBackend, ChainStateView, MembershipChange, MembershipView } from './admin_views';
import { importProblem } from '../signer/signer_codec';
import { AdminError } from './admin_errors';
import { adminService, WireImportState, WireMembership } from './admin_wire';
import { assertAuthorizedServer } from './grpc_server';

/** How long a call may still run (its deadline minus a margin for the answer), within [min, max]. */
export function callBudgetMs(call: { getDeadline(): grpc.Deadline }, fallbackMs: number, minMs = 200, maxMs = 60_000): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return fallbackMs;
  return Math.max(minMs, Math.min(maxMs, at - Date.now() - 100));
}

/** How long a change may take when the caller set no deadline. */
const DEFAULT_CHANGE_BUDGET_MS = 10_000;

function toWireMembership(v: MembershipView): WireMembership {
  return { ...v, index: String(v.index) };
}

function refusal(e: unknown, nodeId: string): Partial<grpc.StatusObject> {
  if (e instanceof AdminError) return e.toServiceError();
  return { code: grpc.status.INTERNAL, details: `node ${nodeId}: ${(e as Error).message}` };
}

/** Adds the Admin service to the node's shared server. */
export function addAdminService(server: grpc.Server, backend: AdminBackend): void {
  assertAuthorizedServer(server, 'Admin');
  const change = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>, change: MembershipChange): void => {
    backend.changeMembership(change, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(
      (v) => callback(null, toWireMembership(v)),
      (e: unknown) => callback(refusal(e, backend.nodeId)),
    );
  };
  server.addService(adminService().service, {
    TransferLeader: (call: grpc.ServerUnaryCall<{ to: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      backend.transferLeader(call.request.to === '' ? null : call.request.to, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(
        (v) => callback(null, { from: v.from, leader: v.leader, term: String(v.term) }),
        (e: unknown) => callback(refusal(e, backend.nodeId)),
      );
    },
    AddLearner: (call: grpc.ServerUnaryCall<{ id: string; address: string; storeId: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'add-learner', id: call.request.id, address: call.request.address, ...(call.request.storeId ? { storeId: call.request.storeId } : {}) }),
    Promote: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'promote', id: call.request.id }),
    Remove: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      change(call, callback, { kind: 'remove', id: call.request.id }),
    ImportState: (call: grpc.ServerUnaryCall<WireImportState, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // Raising a watermark is a change like any other: the same certificates may make it (authorization.ts).
      const w = call.request;
      // Refused here, before anything is proposed, with the reason; the state machine checks the
      // same again when it applies the entry (signer_codec.ts importProblem), on every node.
      const problem = /^\d+$/.test(w.height)
        ? importProblem({
            chainId: w.chainId,
            pubKey: w.pubKey,
            record: { height: BigInt(w.height), round: w.round, step: w.step as 0 | 1 | 2 | 3, signBytes: w.signBytes, signature: w.signature },
          })
        : `height ${JSON.stringify(w.height)} is not a non-negative integer`;
      if (problem) {
        callback(new AdminError('invalid-request', `node ${backend.nodeId} refuses the import: ${problem}; nothing was imported`, backend.nodeId).toServiceError());
        return;
      }
      backend
        .importState({ chainId: w.chainId, pubKey: w.pubKey, height: BigInt(w.height), round: w.round, step: w.step, signBytes: w.signBytes, signature: w.signature })
        .then(
          (r) => callback(null, { imported: r.imported, message: r.message, index: String(r.index) }),
          (e: unknown) =>
            callback(e instanceof AdminError ? e.toServiceError() : { code: grpc.status.UNAVAILABLE, details: (e as Error).message }),
        );
    },
    ChainState: (call: grpc.ServerUnaryCall<{ chainId: string; readBarrier: boolean }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const answer = (r: ChainStateView | null): void => {
        if (!r) {
          callback(null, { found: false });
          return;
        }
        callback(null, {
          found: true,
          pubKey: Buffer.from(r.pubKey),
          height: r.height.toString(),
          round: r.round,
          step: r.step,
          signBytes: Buffer.from(r.signBytes),
          signature: Buffer.from(r.signature),
          appliedIndex: String(r.appliedIndex),
          readIndex: String(r.readIndex ?? 0),
        });
      };
      // A read like any other (any certificate of the cluster CA); with read_barrier it costs the
      // leader one empty log entry.
      if (call.request.readBarrier) {
        backend.chainStateAtLeader(call.request.chainId, callBudgetMs(call, DEFAULT_CHANGE_BUDGET_MS)).then(answer, (e: unknown) => callback(refusal(e, backend.nodeId)));
        return;
      }
      answer(backend.chainState(call.request.chainId));
    },
    Status: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const s = backend.status();
      callback(null, {
        id: s.id,
        role: s.role,
        term: String(s.term),
        leader: s.leader ?? '',
        commitIndex: String(s.commitIndex),
        appliedIndex: String(s.appliedIndex),
        lastIndex: String(s.lastIndex),
        snapshotIndex: String(s.snapshotIndex),
        voters: s.voters,
        learners: s.learners,
        learner: s.learner,
        progress: s.progress.map((p) => ({ ...p, match: String(p.match), next: String(p.next), recentActive: p.recentActive })),
        peers: s.peers.map((p) => ({ ...p, lastError: p.lastError ?? '' })),
        chains: s.chains.map((c) => ({ ...c, pubKey: Buffer.from(c.pubKey, 'hex') })),
        storeId: s.storeId,
        storeNamed: s.storeNamed,
      });
    },
  });
}
