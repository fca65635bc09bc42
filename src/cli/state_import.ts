// What `raft-signer state import` decides on the operator's side, before anything is sent: the
// record a state file becomes (keys/foreign_state_files.ts reads the formats), and whether the
// watermark would jump so far above the cluster's current height that it needs --yes.
//
// Neither is the safety check: the leader refuses a record that fails importProblem before
// proposing it, and every node refuses it again when it applies the entry. This side gives the
// clear message first, and asks before a jump that would stop the key from signing for a long
// time (a typo'd height, int64's largest) since the watermark never comes down again.

import { ForeignSigningState } from '../keys/foreign_state_files';
import { verifyEd25519 } from '../keys/validator_key';
import { SlashingRecord } from '../cometbft/filepv_rules';
import { importedSignBytesProblem, importProblem } from '../signer/signer_codec';
import { CliError } from './cli_errors';

/**
 * A jump of the watermark by more than this many heights above the highest height the cluster
 * holds for the chain asks for --yes. A migration imports the old signer's last state, which is
 * at most a few heights above anything the cluster signed for the chain (usually nothing). 1000
 * heights is well over an hour of blocks on most chains: far more than a stop-and-switch takes,
 * far less than a typo (an extra digit) or int64's largest height. With no record for the chain
 * the jump is the height itself, so the first import of a real chain's state asks too: check the
 * height against the validator's last signed height (a watermark above the chain's height keeps
 * the validator from signing until the chain gets there).
 */
export const FAR_JUMP_HEIGHTS = 1000n;

export interface ImportPlan {
  record: SlashingRecord;
  /** Things the operator should know (printed on stderr), e.g. a share signature not kept. */
  notes: string[];
}

/**
 * The record `state` becomes for (chainId, pubKey), converted exactly; throws a CliError (naming
 * the file, saying nothing was imported) when the leader would refuse it.
 */
export function importPlan(state: ForeignSigningState, chainId: string, pubKey: Uint8Array): ImportPlan {
  const file = state.source;
  const hrsOnly: SlashingRecord = { height: state.height, round: state.round, step: state.step, signBytes: new Uint8Array(0), signature: new Uint8Array(0) };
  const notes: string[] = [];
  let record = hrsOnly;
  if (state.signBytes && state.signature) {
    const full: SlashingRecord = { ...hrsOnly, signBytes: state.signBytes, signature: state.signature };
    const verifies = verifyEd25519(pubKey, state.signBytes, state.signature);
    if (!verifies && !state.signatureMayBeShare) {
      throw new CliError(`the signature in ${file} does not verify with chain ${chainId}'s key: this state file belongs to another key; nothing was imported`);
    }
    // Even a share's sign bytes must be this chain's at this HRS: otherwise it is the wrong file.
    const bytesProblem = importedSignBytesProblem(chainId, full);
    if (bytesProblem) throw new CliError(`${file}: ${bytesProblem}; nothing was imported`);
    if (verifies) {
      record = full;
    } else {
      // A cosigner's share of the threshold signature: the HRS is kept, the share is not (it can
      // answer nothing). A repeat at exactly that HRS is then refused, which costs that one vote.
      notes.push(
        `the signature in ${file} does not verify with chain ${chainId}'s key (a cosigner's share of a threshold signature): ` +
          'importing its height, round and step only; a request at exactly that height/round/step will be refused',
      );
    }
  }
  const problem = importProblem({ chainId, pubKey, record });
  if (problem) throw new CliError(`${file}: ${problem}; nothing was imported`);
  return { record, notes };
}

/** How far the import raises the watermark above the cluster's current height (0n when not above). */
export function watermarkJump(currentHeight: bigint | null, imported: bigint): bigint {
  const from = currentHeight ?? 0n;
  return imported > from ? imported - from : 0n;
}

/**
 * Null when the import may go ahead without --yes; otherwise the message that asks for it, with
 * the size of the jump.
 */
export function farJumpRefusal(chainId: string, currentHeight: bigint | null, record: SlashingRecord, file: string): string | null {
  const jump = watermarkJump(currentHeight, record.height);
  if (jump <= FAR_JUMP_HEIGHTS) return null;
  const from =
    currentHeight === null
      ? `the cluster holds no record for chain ${chainId} yet, and ${file} sets its watermark to height ${record.height}`
      : `${file} raises chain ${chainId}'s watermark from height ${currentHeight} to height ${record.height}`;
  return (
    `${from}: a jump of ${jump} heights (more than ${FAR_JUMP_HEIGHTS}). The watermark never comes down, and ` +
    'this key signs nothing at or below it on this cluster; check the height against the validator\'s last signed height ' +
    'and, if it is right, run again with --yes; nothing was imported'
  );
}
