// The last-signed state files of the signers an operator migrates from, each read in its own
// format and converted exactly to FilePV's height/round/step (propose 1, prevote 2, precommit 3):
//
// - filepv: CometBFT's priv_validator_state.json (validator_state_file.ts):
//     {"height": "361402", "round": 0, "step": 3, "signature": b64, "signbytes": HEX}
// - tmkms: the chain's `state_file`, serde_json of iq-cometbft consensus::State (iqlusioninc/tmkms
//   src/chain/state.rs; cometbft-rs consensus/state.rs, block/height.rs, block/round.rs):
//     {"height":"8100","round":"0","step":2,"block_id":{"hash":HEX,"parts":{"total":1,"hash":HEX}}}
//   Height and round are decimal strings, step a number, no sign bytes and no signature. TMKMS
//   numbers the steps proposal 0, prevote 1, precommit 2 (src/privval.rs consensus_state), one
//   below FilePV: taken unchanged, a TMKMS precommit would become a prevote watermark and the
//   cluster could sign a precommit TMKMS may already have signed.
// - horcrux: signer/sign_state.go SignState through cometbft's libs/json, in
//   `{chain}_priv_validator_state.json` (the combined signature) or a cosigner's
//   `{chain}_share_sign_state.json` (its share of one):
//     {"height": "123", "round": "0", "step": 3, "nonce_public": b64|null,
//      "signature": b64, "signbytes": HEX, "vote_ext_signature": b64}
//   int64 height and round as strings, step a number with Horcrux's own constants stepPropose 1,
//   stepPrevote 2, stepPrecommit 3 (FilePV's), and 0 after `horcrux state set`. Older versions
//   named nonce_public ephemeral_public. A share signature does not verify with the validator's
//   key; the caller decides what to keep (state_command.ts).
//
// Errors name the file and say what to do; a file that looks like another signer's says which
// --from to use.

import fs from 'node:fs';
import { isErrnoCode } from './key_file_permissions';
import { decodeBase64, ED25519_SIGNATURE_LENGTH, isPlainObject } from './validator_key';
import { INT32_MAX, INT64_MAX, parseValidatorStateJson, ValidatorStateFileError } from './validator_state_file';

export const STATE_FILE_FORMATS = ['filepv', 'tmkms', 'horcrux'] as const;
export type StateFileFormat = (typeof STATE_FILE_FORMATS)[number];

/** A signer's last state as its file says it, in FilePV's numbering. */
export interface ForeignSigningState {
  format: StateFileFormat;
  /** The file it was read from (for messages). */
  source: string;
  height: bigint;
  round: number;
  /** FilePV step: 0 nothing signed yet at this height and round, 1 propose, 2 prevote, 3 precommit. */
  step: 0 | 1 | 2 | 3;
  /** The sign bytes of the last signature, when the file has them (FilePV, Horcrux). */
  signBytes?: Uint8Array;
  signature?: Uint8Array;
  /**
   * Horcrux: the signature may be a cosigner's share of the threshold signature (a share sign
   * state file), which does not verify with the validator's key.
   */
  signatureMayBeShare?: boolean;
}

const FIELDS: Record<StateFileFormat, readonly string[]> = {
  filepv: ['height', 'round', 'step', 'signature', 'signbytes'],
  tmkms: ['height', 'round', 'step', 'block_id'],
  horcrux: ['height', 'round', 'step', 'nonce_public', 'ephemeral_public', 'signature', 'signbytes', 'vote_ext_signature'],
};

/** Which format a document with these fields probably is, for the hint in an error. */
function likelyFormat(doc: Record<string, unknown>): StateFileFormat | null {
  const keys = Object.keys(doc);
  if (keys.includes('block_id')) return 'tmkms';
  if (keys.some((k) => k === 'nonce_public' || k === 'ephemeral_public' || k === 'vote_ext_signature')) return 'horcrux';
  if (keys.every((k) => FIELDS.filepv.includes(k)) && typeof doc.round === 'number') return 'filepv';
  return null;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  return text.length > 40 ? text.slice(0, 40) + '…' : text;
}

class Reader {
  constructor(
    readonly format: StateFileFormat,
    readonly source: string,
  ) {}

  fail(what: string): never {
    throw new ValidatorStateFileError(this.source, `${this.name()} ${this.source}: ${what}`);
  }

  name(): string {
    return this.format === 'tmkms' ? 'TMKMS state file' : this.format === 'horcrux' ? 'Horcrux sign state file' : 'state file';
  }

  object(text: string): Record<string, unknown> {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return this.fail(`is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!isPlainObject(doc)) return this.fail(`is not a JSON object: expected a ${this.name()}`);
    for (const field of Object.keys(doc)) {
      if (FIELDS[this.format].includes(field)) continue;
      const other = likelyFormat(doc);
      const hint = other && other !== this.format ? `; it looks like a ${other} file: use --from ${other}` : '';
      this.fail(`unknown field "${field}": a ${this.name()} has ${FIELDS[this.format].join(', ')}${hint}`);
    }
    return doc;
  }

  /** A decimal string (how int64s are written by both TMKMS and cometbft's libs/json), 0..max. */
  decimalString(value: unknown, field: string, max: bigint, hint = ''): bigint {
    if (typeof value !== 'string') return this.fail(`${field} must be a decimal string such as "${field === 'height' ? '8100' : '0'}", got ${describe(value)}${hint}`);
    if (!/^[0-9]+$/.test(value)) return this.fail(`${field} "${value}" must be a non-negative decimal integer`);
    const n = BigInt(value);
    if (n > max) return this.fail(`${field} "${value}" is beyond ${max === INT64_MAX ? 'int64' : 'int32'}`);
    return n;
  }

  bytes(value: unknown, field: string, encoding: 'base64' | 'hex'): Uint8Array | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') return this.fail(`${field} must be a ${encoding} string, got ${describe(value)}`);
    if (encoding === 'hex') {
      if (!/^([0-9A-Fa-f]{2})+$/.test(value)) return this.fail(`${field} must be a hex string, got ${describe(value)}`);
      return new Uint8Array(Buffer.from(value, 'hex'));
    }
    return new Uint8Array(decodeBase64(value, field, (what) => this.fail(what)));
  }
}

function parseTmkms(r: Reader, text: string): ForeignSigningState {
  const doc = r.object(text);
  const height = r.decimalString(doc.height, 'height', INT64_MAX);
  const numericRound = typeof doc.round === 'number' ? ": a numeric round is CometBFT's priv_validator_state.json: use --from filepv" : '';
  const round = Number(r.decimalString(doc.round, 'round', BigInt(INT32_MAX), numericRound));
  const step = doc.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > 2) {
    const hint = step === 3 ? ' (TMKMS numbers them one below CometBFT; a step 3 file is not a TMKMS one: use --from filepv or --from horcrux)' : '';
    return r.fail(`step must be 0 (proposal), 1 (prevote) or 2 (precommit), TMKMS's numbering, got ${describe(step)}${hint}`);
  }
  if (doc.block_id !== undefined && doc.block_id !== null) checkTmkmsBlockId(r, doc.block_id);
  // TMKMS step s is FilePV step s + 1. No sign bytes: an HRS-only record.
  return { format: 'tmkms', source: r.source, height, round, step: (step + 1) as 1 | 2 | 3 };
}

/** The block id is not imported (no sign bytes to go with it), but a malformed one means a wrong file. */
function checkTmkmsBlockId(r: Reader, blockId: unknown): void {
  const hash = (v: unknown, field: string): void => {
    if (typeof v !== 'string' || !/^([0-9A-Fa-f]{64})?$/.test(v)) r.fail(`${field} must be empty or a 32-byte hex hash, got ${describe(v)}`);
  };
  if (!isPlainObject(blockId)) return r.fail(`block_id must be an object, got ${describe(blockId)}`);
  hash(blockId.hash, 'block_id.hash');
  const parts = blockId.parts ?? blockId.part_set_header;
  if (parts === undefined || parts === null) return;
  if (!isPlainObject(parts)) return r.fail(`block_id.parts must be an object, got ${describe(parts)}`);
  const total = parts.total;
  const totalOk = (typeof total === 'number' && Number.isInteger(total) && total >= 0) || (typeof total === 'string' && /^[0-9]+$/.test(total));
  if (!totalOk) r.fail(`block_id.parts.total must be a whole number, got ${describe(total)}`);
  hash(parts.hash, 'block_id.parts.hash');
}

function parseHorcrux(r: Reader, text: string): ForeignSigningState {
  const doc = r.object(text);
  const height = r.decimalString(doc.height, 'height', INT64_MAX);
  // libs/json writes int64 as a string; a number is read too (Horcrux's own import takes FilePV's int32 round).
  const round =
    typeof doc.round === 'number' && Number.isInteger(doc.round) && doc.round >= 0 && doc.round <= INT32_MAX
      ? doc.round
      : Number(r.decimalString(doc.round, 'round', BigInt(INT32_MAX)));
  const step = doc.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > 3) {
    return r.fail(`step must be 0, 1 (propose), 2 (prevote) or 3 (precommit), got ${describe(step)}`);
  }
  r.bytes(doc.nonce_public ?? doc.ephemeral_public, doc.nonce_public !== undefined ? 'nonce_public' : 'ephemeral_public', 'base64');
  r.bytes(doc.vote_ext_signature, 'vote_ext_signature', 'base64');
  const signature = r.bytes(doc.signature, 'signature', 'base64');
  const signBytes = r.bytes(doc.signbytes, 'signbytes', 'hex');
  if ((signature === undefined) !== (signBytes === undefined)) {
    const [present, absent] = signature !== undefined ? ['signature', 'signbytes'] : ['signbytes', 'signature'];
    return r.fail(`has ${present} but no ${absent}: Horcrux writes both or neither; take the file from the cosigner as it is`);
  }
  if (signature !== undefined && signature.length !== ED25519_SIGNATURE_LENGTH) {
    return r.fail(`signature is ${signature.length} bytes; an Ed25519 signature (or share) is ${ED25519_SIGNATURE_LENGTH}`);
  }
  if (signature !== undefined && step === 0) return r.fail('step is 0 (nothing signed) but the file holds a signature');
  return {
    format: 'horcrux',
    source: r.source,
    height,
    round,
    step: step as 0 | 1 | 2 | 3,
    ...(signature && signBytes ? { signature, signBytes, signatureMayBeShare: true } : {}),
  };
}

function parseFilePv(text: string, source: string): ForeignSigningState {
  try {
    const s = parseValidatorStateJson(text, source);
    return {
      format: 'filepv',
      source,
      height: s.height,
      round: s.round,
      step: s.step as 0 | 1 | 2 | 3,
      ...(s.signature && s.signBytes ? { signature: s.signature, signBytes: s.signBytes } : {}),
    };
  } catch (e) {
    // The same refusal, with a hint when the file is plainly another signer's.
    if (!(e instanceof ValidatorStateFileError)) throw e;
    let doc: unknown = null;
    try {
      doc = JSON.parse(text);
    } catch {
      // not JSON: the message already says so
    }
    const other = isPlainObject(doc) ? likelyFormat(doc) : null;
    if (other && other !== 'filepv') throw new ValidatorStateFileError(source, `${e.message}; it looks like a ${other} file: use --from ${other}`);
    throw e;
  }
}

/** Parses a state file of `format`; throws ValidatorStateFileError naming `source`. */
export function parseStateFile(format: StateFileFormat, text: string, source: string): ForeignSigningState {
  switch (format) {
    case 'filepv':
      return parseFilePv(text, source);
    case 'tmkms':
      return parseTmkms(new Reader('tmkms', source), text);
    case 'horcrux':
      return parseHorcrux(new Reader('horcrux', source), text);
  }
}

export function loadStateFile(format: StateFileFormat, filePath: string): ForeignSigningState {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) throw new ValidatorStateFileError(filePath, `state file ${filePath} not found`);
    throw new ValidatorStateFileError(filePath, `state file ${filePath} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseStateFile(format, text, filePath);
}
