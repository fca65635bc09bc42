// The Raft service's Founding call and the founding digest on Raft streams: how the founders of a
// new cluster learn each other's stores before writing its first entry, and how stores founded in
// different ceremonies (different peers lists, or a founder that re-founded) are kept apart. The
// ceremony itself is src/node/founding.ts; this file is only the wire.

import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../raft/types';
import { clusterChannelCredentials, type TlsPem } from './grpc_server';
import { raftServiceDefinition } from './proto_loader';

/** The stream metadata key that carries the sender's founding digest (absent: none yet). */
export const FOUNDING_METADATA_KEY = 'x-raftsigner-founding';

/** The founding membership: founders (sorted) and the store each founded with. */
export interface FoundingMembership {
  voters: NodeId[];
  incarnations: Record<NodeId, string>;
}

/** What a node answers to Founding. */
export interface FoundingInfo {
  nodeId: NodeId;
  storeId: string;
  founders: NodeId[];
  /** The founding record's text as the store holds it, or null. */
  founded: string | null;
  /** Whether the asker's store has spoken to the answering node before (see FoundingQuery). */
  storeSeen: boolean;
}

/** What the transport needs from the node about its founding. */
export interface FoundingSource {
  /** What to answer `asker`, whose store is `askerStore`. */
  info(asker: NodeId, askerStore: string): FoundingInfo;
  /** This store's founding digest, or null when it never founded (a learner that joined). */
  digest(): string | null;
}

interface FoundingAnswerWire {
  nodeId: string;
  storeId: string;
  founders: string[];
  founded: string;
  storeSeen: boolean;
}

export function foundingAnswer(info: FoundingInfo): FoundingAnswerWire {
  return { nodeId: info.nodeId, storeId: info.storeId, founders: info.founders, founded: info.founded ?? '', storeSeen: info.storeSeen };
}

/**
 * Why a stream whose sender presents `theirs` must be refused by a node whose digest is `ours`, or
 * null. A node that never founded (joined as a learner) has none and is not compared: it holds
 * nothing of its own, and its store is named in the log by add-learner.
 */
export function foundingMismatch(ours: string | null, theirs: string | null): string | null {
  if (ours === null || theirs === null || ours === theirs) return null;
  return (
    `it was founded with another first membership (founding digest ${theirs.slice(0, 12)}, ours ${ours.slice(0, 12)}): ` +
    'its store and ours belong to different clusters of the same name. Compare the peers in every founder\'s config.yaml; ' +
    'a founder with the wrong store must rejoin as a learner'
  );
}

/** Reads the founding digest a caller sent, or null. */
export function foundingDigestOf(metadata: grpc.Metadata): string | null {
  const v = metadata.get(FOUNDING_METADATA_KEY)[0];
  return typeof v === 'string' && /^[0-9a-f]{32}$/.test(v) ? v : null;
}

/** Asks the founder at `address` (certificate `peerId`) what it founds with; `storeId` is the asker's. */
export function askFounding(address: string, tls: TlsPem, peerId: NodeId, storeId: string, deadlineMs: number): Promise<FoundingInfo> {
  const Client = grpc.makeGenericClientConstructor(raftServiceDefinition(), 'Raft');
  const client = new Client(address, clusterChannelCredentials(tls, peerId, 'node'), {
    'grpc.ssl_target_name_override': peerId,
    'grpc.default_authority': peerId,
  });
  type Method = (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: FoundingAnswerWire) => void) => void;
  const fn = (client as unknown as Record<string, Method>).Founding.bind(client);
  return new Promise<FoundingInfo>((resolve, reject) => {
    fn({ storeId }, { deadline: Date.now() + deadlineMs }, (err, res) => {
      client.close();
      if (err) {
        reject(new Error(err.details || err.message));
        return;
      }
      resolve({ nodeId: res.nodeId, storeId: res.storeId, founders: res.founders, founded: res.founded === '' ? null : res.founded, storeSeen: res.storeSeen });
    });
  });
}
