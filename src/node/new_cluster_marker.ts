// Whether an empty store may be bootstrapped as a founding member of a NEW cluster.
//
// A voter that lost its data directory and starts again with an empty store must not bootstrap
// a fresh log and take part in elections as if nothing happened: the votes and acknowledgements
// it gave before are gone, so a lagging node could win an election with its vote and lack an entry
// that was committed (and signed) with its help. The chaos harness found exactly that double
// sign. So an empty store is bootstrapped only when the home says "this is a new cluster": the
// marker file `testnet` writes into every home (removed after the first bootstrap), or
// `start --new-cluster`. Otherwise the node refuses to start and says how to rejoin safely
// (remove it, then add it back as a learner with `join: true`, then promote it).

import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from '../keys/key_file_permissions';
import { StorageError } from '../storage/errors';

export const NEW_CLUSTER_MARKER_FILE = 'new-cluster';

export class RejoinRequiredError extends StorageError {
  constructor(readonly nodeId: string, readonly dataDir: string) {
    super(
      `the data directory ${dataDir} is empty, but ${nodeId} is a founding member of a cluster that already exists ` +
        `(no new-cluster marker in its home): a node that lost its data must not vote again as if nothing happened. ` +
        `${rejoinAsLearnerSteps(nodeId)} Only if this really is a new cluster, start with --new-cluster.`,
    );
    this.name = 'RejoinRequiredError';
  }
}

/** The documented way back for a voter whose data is gone or cannot be trusted. */
export function rejoinAsLearnerSteps(nodeId: string): string {
  return (
    `Rejoin it as a learner: \`raft-signer cluster remove --id ${nodeId}\`, set \`join: true\` in its config.yaml, ` +
    `start it, \`raft-signer cluster add-learner --id ${nodeId} --address HOST:PORT\`, wait until it has caught up, ` +
    `then \`raft-signer cluster promote --id ${nodeId}\`.`
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
