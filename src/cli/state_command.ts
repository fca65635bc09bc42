// `raft-signer state show|export|import`: the slashing-protection record of a chain, as the
// cluster has committed it. Import brings another signer's last state (`--from filepv|tmkms|
// horcrux`, each read in its own format: keys/foreign_state_files.ts) into the log as a committed
// entry that can only raise the watermark, and asks for --yes before a far jump (state_import.ts);
// export writes the current record as a CometBFT priv_validator_state.json, for moving back or
// for a backup.
//
// Every read here is the leader's, after a read barrier (node/leader_reads.ts): it holds every
// signature the cluster has released, even right after a leader crash, when the followers may not
// have applied the last commit yet. Any member can be asked; a follower names the leader and the
// CLI asks it (cluster_command.ts withLeader), retrying while an election runs.

import { Command, Option } from 'commander';
import { readValidatorKeyFilePublicInfo } from '../keys/encrypted_key_file';
import { loadStateFile, STATE_FILE_FORMATS, StateFileFormat } from '../keys/foreign_state_files';
import { formatValidatorStateJson, ValidatorSigningState, writeValidatorStateFile } from '../keys/validator_state_file';
import { ChainStateView } from '../transport/admin_views';
import { fetchChainState, sendImportState } from '../transport/admin_client';
import { CliError } from './cli_errors';
import { ClusterClient, clusterClient } from '../node/cluster_client';
import { AdminConnection, adminConnection, DEFAULT_ADMIN_TIMEOUT_MS, withLeader } from './cluster_command';
import { FAR_JUMP_HEIGHTS, farJumpRefusal, importPlan, watermarkJump } from './state_import';

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

interface ImportOptions {
  home: string;
  chainId: string;
  file: string;
  from: StateFileFormat;
  yes?: boolean;
}

async function importState(opts: ImportOptions): Promise<{ imported: boolean; message: string; leader: string }> {
  const client = clusterClient(opts.home);
  const pubKey = chainPublicKey(client, opts.chainId);
  const plan = importPlan(loadStateFile(opts.from, opts.file), opts.chainId, pubKey);
  for (const note of plan.notes) process.stderr.write(`note: ${note}\n`);
  const connection = adminConnection({ home: opts.home });
  // Compared with the leader's record after a read barrier: the highest height the cluster holds.
  const { state: current } = await leaderChainState(connection, opts.chainId);
  const refusal = farJumpRefusal(opts.chainId, current?.height ?? null, plan.record, opts.file);
  if (refusal && !opts.yes) throw new CliError(refusal);
  if (refusal) {
    const jump = watermarkJump(current?.height ?? null, plan.record.height);
    process.stderr.write(`confirmed with --yes: the watermark of chain ${opts.chainId} jumps ${jump} heights, to ${plan.record.height}\n`);
  }
  const request = { chainId: opts.chainId, pubKey, ...plan.record };
  const { result, answeredBy } = await withLeader(connection, DEFAULT_ADMIN_TIMEOUT_MS, (target, deadlineMs) =>
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
    .description("commit a signer's last state (FilePV, TMKMS or Horcrux) into the log; it can only raise the watermark")
    .requiredOption(home, homeHelp)
    .requiredOption('--chain-id <id>', 'the chain')
    .requiredOption('--file <file>', "the old signer's state file, in its own format (see --from)")
    .addOption(
      new Option('--from <signer>', "the file's format: filepv (CometBFT priv_validator_state.json), tmkms (its state_file), horcrux (a cosigner's sign state file)")
        .choices([...STATE_FILE_FORMATS])
        .default('filepv'),
    )
    .option('--yes', `import even when the watermark jumps more than ${FAR_JUMP_HEIGHTS} heights above the cluster's current height`)
    .action(async (opts: ImportOptions) => {
      const r = await importState(opts);
      process.stdout.write(
        r.imported
          ? `imported through leader ${r.leader}: ${r.message}\n`
          : `not imported (leader ${r.leader}): ${r.message}\n`,
      );
    });
}
