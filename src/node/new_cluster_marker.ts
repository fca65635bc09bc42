// Whether an empty store may be bootstrapped as a founding member of a NEW cluster.
//
// A voter that lost its data directory and starts again with an empty store must not bootstrap
// a fresh log and take part in elections as if nothing happened: the votes and acknowledgements
// it gave before are gone, so a lagging node could win an election with its vote and lack an entry
// that was committed (and signed) with its help. The chaos harness found exactly that double
// sign. So an empty store is bootstrapped only when the home says "this is a new cluster": the
// marker file `testnet` writes into every home (removed after the first bootstrap), or
// `start --new-cluster`. Otherwise the node refuses to start and says how to rejoin safely
// (remove it, then add its new store back as a learner with `join: true`, then promote it). The
// marker is not what keeps an empty store from voting, though: the membership names each member's
// store (see founding.ts), and a new store is never the one named.

import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from '../keys/key_file_permissions';
import { StorageError } from '../storage/errors';

export const NEW_CLUSTER_MARKER_FILE = 'new-cluster';

export class RejoinRequiredError extends StorageError<{ code: 'REJOIN_REQUIRED'; context: RejoinCommandContext; dataDir: string }> {
  constructor(readonly context: RejoinCommandContext, readonly dataDir: string) {
    super(
      `the data directory ${dataDir} is empty, but ${context.nodeId} is a founding member of a cluster that already exists ` +
        `(no new-cluster marker in its home): a node that lost its data must not vote again as if nothing happened. ` +
        `${rejoinAsLearnerSteps(context)} Only if this really is a new cluster, start with --new-cluster.`,
      undefined,
      { code: 'REJOIN_REQUIRED', context, dataDir },
    );
    this.name = 'RejoinRequiredError';
  }
}

/** What the rejoin commands need to be pasted as they are. */
export interface RejoinCommandContext {
  nodeId: string;
  /** This node's home (its config.yaml is where `join: true` goes). */
  home: string;
  /** Where this node listens, as the members dial it. */
  address: string;
  /** The other members' addresses (config.yaml peers), for --endpoints. */
  endpoints: string[];
}

/**
 * The documented way back for a voter whose data is gone or cannot be trusted, as commands to
 * paste: remove the old member with this node's own certificate (still a voter's until the
 * removal commits), then add the new store as a learner and promote it with the admin client
 * directory (testnet's admin/), which a removed node's certificate may no longer do.
 */
export function rejoinAsLearnerSteps(c: RejoinCommandContext): string {
  const endpoints = c.endpoints.length > 0 ? c.endpoints.join(',') : 'HOST:PORT';
  const admin = `--admin ADMIN_DIR --endpoints ${endpoints}`;
  return (
    `Rejoin it as a learner under its new store: (1) \`raft-signer cluster remove --id ${c.nodeId} --home ${c.home}\`; ` +
    `(2) set \`join: true\` in ${c.home}/config.yaml and start it again; ` +
    `(3) \`raft-signer cluster add-learner --id ${c.nodeId} --address ${c.address} ${admin}\`; ` +
    `(4) once it has caught up, \`raft-signer cluster promote --id ${c.nodeId} ${admin}\` ` +
    `(ADMIN_DIR: the admin client directory testnet wrote, or use --home of another voter).`
  );
}

export function newClusterMarkerPath(home: string): string {
  return path.join(home, NEW_CLUSTER_MARKER_FILE);
}

export function writeNewClusterMarker(home: string): void {
  fs.writeFileSync(
    newClusterMarkerPath(home),
    'This node has not started yet: its first start creates the cluster (bootstraps an empty store).\n' +
      'raft-signer removes this file after that. Never recreate it for a node that lost its data.\n',
    { mode: 0o600 },
  );
}

export function hasNewClusterMarker(home: string): boolean {
  return fs.existsSync(newClusterMarkerPath(home));
}

/** After the bootstrap is on disk: a later empty store means lost data, not a new cluster. */
export function removeNewClusterMarker(home: string): void {
  fs.rmSync(newClusterMarkerPath(home), { force: true });
  fsyncDirectory(home);
}
