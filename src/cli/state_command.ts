// `raft-signer state show|export|import`: the slashing-protection record of a chain, as the
// cluster has committed it. Import brings a CometBFT priv_validator_state.json (from FilePV,
// TMKMS or Horcrux) into the log as a committed entry that can only raise the watermark; export
// writes the current record in that same format, for moving back or for a backup.
//
// Every read here is the leader's, after a read barrier (node/leader_reads.ts): it holds every
// signature the cluster has released, even right after a leader crash, when the followers may not
// have applied the last commit yet. Any member can be asked; a follower names the leader and the
// CLI asks it (cluster_command.ts withLeader), retrying while an election runs.

import { Command } from 'commander';
import { readValidatorKeyFilePublicInfo } from '../keys/encrypted_key_file';
import { verifyEd25519 } from '../keys/validator_key';
import {
  formatValidatorStateJson,
  loadValidatorStateFile,
  ValidatorSigningState,
  writeValidatorStateFile,
} from '../keys/validator_state_file';
import { ChainStateView, fetchChainState, sendImportState } from '../node/admin_service';
import { CliError } from './cli_errors';
import { ClusterClient, clusterClient } from './cluster_client';
import { AdminConnection, adminConnection, DEFAULT_ADMIN_TIMEOUT_MS, withLeader } from './cluster_command';

/** The chain's configured public key (from the key file's public part: no passphrase needed). */
function chainPublicKey(client: ClusterClient, chainId: string): Uint8Array {
  const chain = client.config.chains.find((c) => c.chainId === chainId);
  if (!chain) {
    const known = client.config.chains.map((c) => c.chainId).join(', ') || 'none';
    throw new CliError(`chain ${JSON.stringify(chainId)} is not configured on this node (configured: ${known})`);
  }
  return readValidatorKeyFilePublicInfo(chain.keyFile).publicKey;
}

/** The leader's record of the chain after a read barrier: everything released is in it. */
async function leaderChainState(connection: AdminConnection, chainId: string): Promise<{ state: ChainStateView | null; from: string }> {
  const { result, answeredBy } = await withLeader(connection, DEFAULT_ADMIN_TIMEOUT_MS, (target, deadlineMs) =>
    fetchChainState(target.address, target.credentials, target.serverName, chainId, deadlineMs, { readBarrier: true }),
  );
  return { state: result, from: answeredBy.id ?? answeredBy.address };
}

function toSigningState(s: ChainStateView | null): ValidatorSigningState {
  if (!s) return { height: 0n, round: 0, step: 0 };
  return {
    height: s.height,
    round: s.round,
    step: s.step,
    ...(s.signature.length > 0 ? { signature: s.signature } : {}),
    ...(s.signBytes.length > 0 ? { signBytes: s.signBytes } : {}),
  };
}

async function importState(home: string, client: ClusterClient, chainId: string, file: string): Promise<{ imported: boolean; message: string; leader: string }> {
  const pubKey = chainPublicKey(client, chainId);
  const state = loadValidatorStateFile(file);
  if (state.signature && state.signBytes && !verifyEd25519(pubKey, state.signBytes, state.signature)) {
    throw new CliError(
      `the signature in ${file} does not verify with chain ${chainId}'s key: this state file belongs to another key; nothing was imported`,
    );
  }
  const request = {
    chainId,
    pubKey,
    height: state.height,
    round: state.round,
    step: state.step,
    signBytes: state.signBytes ?? new Uint8Array(0),
    signature: state.signature ?? new Uint8Array(0),
  };
  const { result, answeredBy } = await withLeader(adminConnection({ home }), DEFAULT_ADMIN_TIMEOUT_MS, (target, deadlineMs) =>
    sendImportState(target.address, target.credentials, target.serverName, request, deadlineMs),
  );
  return { ...result, leader: answeredBy.id ?? answeredBy.address };
}

export function registerStateCommand(program: Command): void {
  const state = program.command('state').description("a chain's slashing-protection record, as the cluster has committed it");
  const home = '--home <dir>';
  const homeHelp = "a node's home directory (holds config.yaml)";

  state
    .command('show')
    .description('print the last signed height, round and step of a chain')
    .requiredOption(home, homeHelp)
    .requiredOption('--chain-id <id>', 'the chain')
    .option('--json', 'one JSON object on stdout')
    .action(async (opts: { home: string; chainId: string; json?: boolean }) => {
      const client = clusterClient(opts.home);
      const pubKey = chainPublicKey(client, opts.chainId);
      const { state: s, from } = await leaderChainState(adminConnection({ home: opts.home }), opts.chainId);
      const view = {
        chainId: opts.chainId,
        pubKey: Buffer.from(pubKey).toString('hex'),
        height: (s?.height ?? 0n).toString(),
        round: s?.round ?? 0,
        step: s?.step ?? 0,
        appliedIndex: s?.appliedIndex ?? null,
        from,
      };
      if (opts.json) process.stdout.write(JSON.stringify(view) + '\n');
      else if (!s) process.stdout.write(`chain ${opts.chainId}: nothing signed yet (asked ${from})\n`);
      else process.stdout.write(`chain ${opts.chainId}: last signed height ${view.height} round ${view.round} step ${view.step} (from ${from}, applied index ${view.appliedIndex})\n`);
    });

  state
    .command('export')
    .description('write the record as a CometBFT priv_validator_state.json')
    .requiredOption(home, homeHelp)
    .requiredOption('--chain-id <id>', 'the chain')
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .option('--force', 'overwrite --out if it exists')
    .action(async (opts: { home: string; chainId: string; out?: string; force?: boolean }) => {
      const client = clusterClient(opts.home);
      chainPublicKey(client, opts.chainId);
      const { state: s } = await leaderChainState(adminConnection({ home: opts.home }), opts.chainId);
      const out = toSigningState(s);
      if (opts.out) {
        writeValidatorStateFile(opts.out, out, { overwrite: opts.force });
        process.stderr.write(`wrote ${opts.out}: height ${out.height} round ${out.round} step ${out.step}\n`);
      } else {
        process.stdout.write(formatValidatorStateJson(out) + '\n');
      }
    });

  state
    .command('import')
    .description('commit a priv_validator_state.json into the log; it can only raise the watermark')
    .requiredOption(home, homeHelp)
    .requiredOption('--chain-id <id>', 'the chain')
    .requiredOption('--file <priv_validator_state.json>', 'the state file to import')
    .action(async (opts: { home: string; chainId: string; file: string }) => {
      const client = clusterClient(opts.home);
      const r = await importState(opts.home, client, opts.chainId, opts.file);
      process.stdout.write(
        r.imported
          ? `imported through leader ${r.leader}: ${r.message}\n`
          : `not imported (leader ${r.leader}): ${r.message}\n`,
      );
    });
}
