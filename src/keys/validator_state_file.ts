// CometBFT's priv_validator_state.json: the last height/round/step a FilePV signed, with the
// signature and sign bytes. Operators bring it when moving a validator onto raft-signer, so the
// cluster starts with the validator's own double-sign watermark instead of from zero.
//
// Format (CometBFT privval.FilePVLastSignState through cmtjson.MarshalIndent(.., "", "  ")):
//   {"height": "361402", "round": 0, "step": 3, "signature": b64, "signbytes": HEX}
// cmtjson writes int64 as a string and int32/int8 as numbers; signature and signbytes are
// omitempty, so a fresh file has neither.

import fs from 'node:fs';
import { isErrnoCode, KeyFileError, writeSecretFile } from './key_file_permissions';
import { decodeBase64, ED25519_SIGNATURE_LENGTH, isPlainObject } from './validator_key';

export const INT64_MAX = 2n ** 63n - 1n;
export const INT32_MAX = 2 ** 31 - 1;
/** CometBFT FilePV steps: 0 none yet, 1 propose, 2 prevote, 3 precommit. */
export const MAX_SIGN_STEP = 3;

export interface ValidatorSigningState {
  height: bigint;
  round: number;
  /** 0 (nothing signed yet), 1 propose, 2 prevote, 3 precommit. */
  step: number;
  /** The last signature (64 bytes), absent when nothing was signed. */
  signature?: Uint8Array;
  /** The sign bytes of that signature, absent when nothing was signed. */
  signBytes?: Uint8Array;
}

export class ValidatorStateFileError extends KeyFileError<{ code: 'VALIDATOR_STATE_FILE_INVALID'; path: string }> {
  constructor(source: string, message: string) {
    super(source, message, { code: 'VALIDATOR_STATE_FILE_INVALID', path: source });
    this.name = 'ValidatorStateFileError';
  }
}

/** Parses and validates priv_validator_state.json; `source` names the file in errors. */
export function parseValidatorStateJson(text: string, source: string): ValidatorSigningState {
  const fail = (what: string): never => {
    throw new ValidatorStateFileError(source, `state file ${source}: ${what}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isPlainObject(doc)) return fail('is not a JSON object: expected a CometBFT priv_validator_state.json');
  for (const field of Object.keys(doc)) {
    if (!['height', 'round', 'step', 'signature', 'signbytes'].includes(field)) {
      fail(`unknown field "${field}": a priv_validator_state.json has height, round, step, signature and signbytes`);
    }
  }

  if (typeof doc.height !== 'string') {
    return fail(`height must be a decimal string such as "361402", got ${describe(doc.height)}`);
  }
  if (!/^[0-9]+$/.test(doc.height)) {
    return fail(`height "${doc.height}" must be a non-negative decimal integer`);
  }
  const height = BigInt(doc.height);
  if (height > INT64_MAX) return fail(`height "${doc.height}" is beyond int64`);

  const round = doc.round;
  if (typeof round !== 'number' || !Number.isInteger(round) || round < 0 || round > INT32_MAX) {
    return fail(`round must be an integer from 0 to ${INT32_MAX}, got ${describe(round)}`);
  }
  const step = doc.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > MAX_SIGN_STEP) {
    return fail(`step must be 0, 1 (propose), 2 (prevote) or 3 (precommit), got ${describe(step)}`);
  }

  const state: ValidatorSigningState = { height, round, step };
  if (doc.signature !== undefined && doc.signature !== null && doc.signature !== '') {
    if (typeof doc.signature !== 'string') return fail(`signature must be a base64 string, got ${describe(doc.signature)}`);
    const signature = decodeBase64(doc.signature, 'signature', fail);
    if (signature.length !== ED25519_SIGNATURE_LENGTH) {
      return fail(`signature is ${signature.length} bytes; an Ed25519 signature is ${ED25519_SIGNATURE_LENGTH}`);
    }
    state.signature = new Uint8Array(signature);
  }
  if (doc.signbytes !== undefined && doc.signbytes !== null && doc.signbytes !== '') {
    if (typeof doc.signbytes !== 'string' || !/^([0-9A-Fa-f]{2})+$/.test(doc.signbytes)) {
      return fail(`signbytes must be a hex string, got ${describe(doc.signbytes)}`);
    }
    state.signBytes = new Uint8Array(Buffer.from(doc.signbytes, 'hex'));
  }
  // CometBFT always writes the two together; one without the other means the file was edited,
  // and a signature whose bytes are unknown cannot be matched against a repeated request.
  if ((state.signature === undefined) !== (state.signBytes === undefined)) {
    const present = state.signature !== undefined ? 'signature' : 'signbytes';
    const absent = state.signature !== undefined ? 'signbytes' : 'signature';
    return fail(`has ${present} but no ${absent}: CometBFT writes both or neither; restore the file from the validator node`);
  }
  if (state.signature !== undefined && step === 0) {
    return fail('step is 0 (nothing signed) but the file holds a signature');
  }
  return state;
}

/** priv_validator_state.json content exactly as CometBFT writes it. */
export function formatValidatorStateJson(state: ValidatorSigningState): string {
  if (state.height < 0n || state.height > INT64_MAX) throw new RangeError(`height ${state.height} is outside 0..int64`);
  if (!Number.isInteger(state.round) || state.round < 0 || state.round > INT32_MAX) {
    throw new RangeError(`round ${state.round} is outside 0..int32`);
  }
  if (!Number.isInteger(state.step) || state.step < 0 || state.step > MAX_SIGN_STEP) {
    throw new RangeError(`step ${state.step} is outside 0..${MAX_SIGN_STEP}`);
  }
  const json: Record<string, string | number> = {
    height: state.height.toString(),
    round: state.round,
    step: state.step,
  };
  if (state.signature !== undefined && state.signature.length > 0) {
    json.signature = Buffer.from(state.signature).toString('base64');
  }
  if (state.signBytes !== undefined && state.signBytes.length > 0) {
    json.signbytes = Buffer.from(state.signBytes).toString('hex').toUpperCase();
  }
  return JSON.stringify(json, null, 2);
}

export function loadValidatorStateFile(filePath: string): ValidatorSigningState {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) throw new ValidatorStateFileError(filePath, `state file ${filePath} not found`);
    throw new ValidatorStateFileError(
      filePath,
      `state file ${filePath} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return parseValidatorStateJson(text, filePath);
}

/** Writes the state file atomically with mode 0600, as CometBFT does. */
export function writeValidatorStateFile(
  filePath: string,
  state: ValidatorSigningState,
  options: { overwrite?: boolean } = {},
): void {
  writeSecretFile(filePath, formatValidatorStateJson(state), { overwrite: options.overwrite, what: 'state file' });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(value);
  return text.length > 40 ? text.slice(0, 40) + '…' : text;
}
