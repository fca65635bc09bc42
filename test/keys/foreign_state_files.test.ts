// The state files of the signers an operator migrates from (foreign_state_files.ts), written at
// test time the way each signer writes them, read back and converted exactly to FilePV's
// height/round/step; and what `state import` makes of them (cli/state_import.ts): the record sent
// to the leader, the refusals, and when a jump of the watermark needs --yes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStateFile, parseStateFile, StateFileFormat } from '../../src/keys/foreign_state_files';
import { ValidatorKey } from '../../src/keys/validator_key';
import { ValidatorStateFileError } from '../../src/keys/validator_state_file';
import { CliError } from '../../src/cli/cli_errors';
import { FAR_JUMP_HEIGHTS, farJumpRefusal, importPlan } from '../../src/cli/state_import';
import { proposalRequest, voteRequest } from '../support/sign_requests';

const CHAIN = 'cosmoshub-4';
// Made at test time; never a real validator's key.
const KEY = ValidatorKey.fromSeed(new Uint8Array(32).fill(42));
const OTHER = ValidatorKey.fromSeed(new Uint8Array(32).fill(43));
const HASH = 'AB'.repeat(32);
const PARTS = 'CD'.repeat(32);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'foreign-state-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

function refused(format: StateFileFormat, text: string, fragment: RegExp): void {
  let caught: unknown;
  try {
    parseStateFile(format, text, 'the-file.json');
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ValidatorStateFileError);
  expect((caught as Error).message).toContain('the-file.json');
  expect((caught as Error).message).toMatch(fragment);
  expect((caught as Error).message).not.toContain('\n');
}

/** TMKMS's state file: serde_json::to_string of consensus::State, one compact line. */
function tmkmsFile(height: string, round: string, step: number, blockId = `{"hash":"${HASH}","parts":{"total":1,"hash":"${PARTS}"}}`): string {
  return `{"height":"${height}","round":"${round}","step":${step},"block_id":${blockId}}`;
}

/** Horcrux's SignState as cometbft libs/json MarshalIndent(ss, "", "  ") writes it. */
function horcruxFile(f: { height: string; round: string; step: number; signature?: Uint8Array; signBytes?: Uint8Array; noncePublic?: string }): string {
  const lines = [`  "height": "${f.height}"`, `  "round": "${f.round}"`, `  "step": ${f.step}`, `  "nonce_public": ${f.noncePublic ?? 'null'}`];
  if (f.signature) lines.push(`  "signature": "${Buffer.from(f.signature).toString('base64')}"`);
  if (f.signBytes) lines.push(`  "signbytes": "${Buffer.from(f.signBytes).toString('hex').toUpperCase()}"`);
  return `{\n${lines.join(',\n')}\n}`;
}

/** CometBFT FilePV's priv_validator_state.json (cmtjson.MarshalIndent). */
function filePvFile(height: string, round: number, step: number, signature?: Uint8Array, signBytes?: Uint8Array): string {
  const lines = [`  "height": "${height}"`, `  "round": ${round}`, `  "step": ${step}`];
  if (signature) lines.push(`  "signature": "${Buffer.from(signature).toString('base64')}"`);
  if (signBytes) lines.push(`  "signbytes": "${Buffer.from(signBytes).toString('hex').toUpperCase()}"`);
  return `{\n${lines.join(',\n')}\n}`;
}

describe('TMKMS state files', () => {
  it.each([
    [0, 1, 'proposal'],
    [1, 2, 'prevote'],
    [2, 3, 'precommit'],
  ])('TMKMS step %i (%s in TMKMS) is FilePV step %i', (tmkmsStep, filePvStep) => {
    const s = loadStateFile('tmkms', file(`tmkms-${tmkmsStep}.json`, tmkmsFile('8100', '2', tmkmsStep)));
    expect(s).toMatchObject({ format: 'tmkms', height: 8100n, round: 2, step: filePvStep });
    expect(s.signBytes).toBeUndefined();
    expect(s.signature).toBeUndefined();
  });

  it('reads a fresh file, lower-case hashes, a string total, no block id, and the largest int64 height', () => {
    expect(parseStateFile('tmkms', tmkmsFile('0', '0', 0, '{"hash":"","parts":{"total":0,"hash":""}}'), 'f')).toMatchObject({ height: 0n, round: 0, step: 1 });
    expect(parseStateFile('tmkms', tmkmsFile('5', '0', 2, `{"hash":"${HASH.toLowerCase()}","parts":{"total":"3","hash":"${PARTS}"}}`), 'f').step).toBe(3);
    expect(parseStateFile('tmkms', tmkmsFile('5', '0', 1, 'null'), 'f').step).toBe(2);
    expect(parseStateFile('tmkms', '{"height":"9223372036854775807","round":"0","step":2}', 'f').height).toBe(2n ** 63n - 1n);
  });

  it('refuses what TMKMS never writes, naming the file', () => {
    refused('tmkms', tmkmsFile('10', '0', 3), /step must be 0 \(proposal\), 1 \(prevote\) or 2 \(precommit\).*got 3.*--from filepv/);
    refused('tmkms', tmkmsFile('10', '0', -1), /step must be/);
    refused('tmkms', '{"height":10,"round":"0","step":1}', /height must be a decimal string/);
    refused('tmkms', '{"height":"10","round":0,"step":1}', /round must be a decimal string/);
    refused('tmkms', tmkmsFile('9223372036854775808', '0', 1), /beyond int64/);
    refused('tmkms', tmkmsFile('10', '2147483648', 1), /beyond int32/);
    refused('tmkms', tmkmsFile('10', '0', 1, '{"hash":"ABCD","parts":{"total":1,"hash":""}}'), /block_id.hash/);
    refused('tmkms', '{"height":"10","round":"0","step":1,"signature":"x"}', /unknown field "signature"/);
    refused('tmkms', 'not json', /not valid JSON/);
    // A FilePV file given as TMKMS says which --from to use.
    refused('tmkms', filePvFile('10', 0, 3), /round must be a decimal string.*use --from filepv/);
  });
});

describe('Horcrux sign state files', () => {
  const vote = voteRequest(CHAIN, KEY.publicKey, { height: 123, type: 'precommit', block: 'A' });

  it('reads a priv_validator_state.json with its combined signature, steps as FilePV', () => {
    const s = loadStateFile(
      'horcrux',
      file(`${CHAIN}_priv_validator_state.json`, horcruxFile({ height: '123', round: '0', step: 3, signature: KEY.sign(vote.signBytes), signBytes: vote.signBytes })),
    );
    expect(s).toMatchObject({ format: 'horcrux', height: 123n, round: 0, step: 3, signatureMayBeShare: true });
    expect(Buffer.from(s.signBytes!)).toEqual(Buffer.from(vote.signBytes));
  });

  it('reads the state `horcrux state set` leaves (step 0, nothing signed), an older ephemeral_public, a numeric round', () => {
    expect(parseStateFile('horcrux', horcruxFile({ height: '123456789', round: '0', step: 0 }), 'f')).toMatchObject({ height: 123456789n, round: 0, step: 0 });
    expect(parseStateFile('horcrux', '{"height":"7","round":"1","step":2,"ephemeral_public":"AAAA"}', 'f')).toMatchObject({ height: 7n, round: 1, step: 2 });
    expect(parseStateFile('horcrux', '{"height":"7","round":3,"step":1,"nonce_public":null}', 'f').round).toBe(3);
  });

  it('refuses what Horcrux never writes, naming the file', () => {
    refused('horcrux', horcruxFile({ height: '1', round: '0', step: 4 }), /step must be 0, 1 \(propose\), 2 \(prevote\) or 3 \(precommit\)/);
    refused('horcrux', horcruxFile({ height: '1', round: '0', step: 3, signature: new Uint8Array(64) }), /signature but no signbytes/);
    refused('horcrux', horcruxFile({ height: '1', round: '0', step: 3, signature: new Uint8Array(10), signBytes: vote.signBytes }), /10 bytes/);
    refused('horcrux', horcruxFile({ height: '1', round: '0', step: 0, signature: new Uint8Array(64), signBytes: vote.signBytes }), /step is 0/);
    refused('horcrux', horcruxFile({ height: '-1', round: '0', step: 1 }), /non-negative/);
    refused('horcrux', tmkmsFile('1', '0', 1), /unknown field "block_id".*use --from tmkms/);
  });
});

describe('FilePV state files through --from filepv', () => {
  it('reads CometBFT\'s file; another signer\'s file is refused with the --from to use', () => {
    const vote = voteRequest(CHAIN, KEY.publicKey, { height: 361402, type: 'precommit', block: 'A' });
    const s = loadStateFile('filepv', file('priv_validator_state.json', filePvFile('361402', 0, 3, KEY.sign(vote.signBytes), vote.signBytes)));
    expect(s).toMatchObject({ format: 'filepv', height: 361402n, round: 0, step: 3 });
    expect(s.signatureMayBeShare).toBeUndefined();
    refused('filepv', tmkmsFile('10', '0', 2), /use --from tmkms/);
    refused('filepv', horcruxFile({ height: '10', round: '0', step: 2 }), /use --from horcrux/);
    expect(() => loadStateFile('filepv', path.join(dir, 'missing.json'))).toThrow(/not found/);
  });
});

describe('what state import sends', () => {
  function cliError(fn: () => unknown): string {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(CliError);
      return (e as Error).message;
    }
    throw new Error('expected a CliError');
  }

  it('a TMKMS precommit becomes an HRS-only FilePV precommit record', () => {
    const plan = importPlan(parseStateFile('tmkms', tmkmsFile('8100', '0', 2), 'tmkms.json'), CHAIN, KEY.publicKey);
    expect(plan.record).toMatchObject({ height: 8100n, round: 0, step: 3 });
    expect(plan.record.signBytes).toHaveLength(0);
    expect(plan.record.signature).toHaveLength(0);
    expect(plan.notes).toEqual([]);
  });

  it('a FilePV or Horcrux record whose signature verifies is sent with it', () => {
    const proposal = proposalRequest(CHAIN, KEY.publicKey, { height: 50, round: 1, block: 'A' });
    const fromFilePv = importPlan(parseStateFile('filepv', filePvFile('50', 1, 1, KEY.sign(proposal.signBytes), proposal.signBytes), 'pv.json'), CHAIN, KEY.publicKey);
    expect(fromFilePv.record).toMatchObject({ height: 50n, round: 1, step: 1 });
    expect(Buffer.from(fromFilePv.record.signature)).toEqual(Buffer.from(KEY.sign(proposal.signBytes)));
    const fromHorcrux = importPlan(
      parseStateFile('horcrux', horcruxFile({ height: '50', round: '1', step: 1, signature: KEY.sign(proposal.signBytes), signBytes: proposal.signBytes }), 'h.json'),
      CHAIN,
      KEY.publicKey,
    );
    expect(fromHorcrux.record.signBytes).toHaveLength(proposal.signBytes.length);
    expect(fromHorcrux.notes).toEqual([]);
  });

  it("a Horcrux cosigner's share signature is not kept: HRS-only, with a note", () => {
    const vote = voteRequest(CHAIN, KEY.publicKey, { height: 60, type: 'prevote', block: 'B' });
    const share = OTHER.sign(vote.signBytes); // does not verify with KEY, as a share does not
    const plan = importPlan(parseStateFile('horcrux', horcruxFile({ height: '60', round: '0', step: 2, signature: share, signBytes: vote.signBytes }), `${CHAIN}_share_sign_state.json`), CHAIN, KEY.publicKey);
    expect(plan.record).toMatchObject({ height: 60n, round: 0, step: 2 });
    expect(plan.record.signBytes).toHaveLength(0);
    expect(plan.record.signature).toHaveLength(0);
    expect(plan.notes.join(' ')).toMatch(/share_sign_state\.json does not verify.*height, round and step only/);
    // Even then, sign bytes of another chain or HRS mean the wrong file.
    const foreign = voteRequest('other-chain', KEY.publicKey, { height: 60, type: 'prevote', block: 'B' });
    expect(cliError(() => importPlan(parseStateFile('horcrux', horcruxFile({ height: '60', round: '0', step: 2, signature: share, signBytes: foreign.signBytes }), 's.json'), CHAIN, KEY.publicKey))).toMatch(
      /name chain "other-chain"/,
    );
  });

  it('a FilePV file signed by another key, for another chain, or edited after signing is refused, naming the file', () => {
    const vote = voteRequest(CHAIN, KEY.publicKey, { height: 70, type: 'precommit', block: 'C' });
    const parse = (text: string) => parseStateFile('filepv', text, 'pv.json');
    expect(cliError(() => importPlan(parse(filePvFile('70', 0, 3, OTHER.sign(vote.signBytes), vote.signBytes)), CHAIN, KEY.publicKey))).toMatch(
      /^the signature in pv\.json does not verify.*another key; nothing was imported$/,
    );
    const other = voteRequest('other-chain', KEY.publicKey, { height: 70, type: 'precommit', block: 'C' });
    expect(cliError(() => importPlan(parse(filePvFile('70', 0, 3, KEY.sign(other.signBytes), other.signBytes)), CHAIN, KEY.publicKey))).toMatch(/^pv\.json: .*name chain "other-chain"/);
    expect(cliError(() => importPlan(parse(filePvFile('75', 0, 3, KEY.sign(vote.signBytes), vote.signBytes)), CHAIN, KEY.publicKey))).toMatch(/height 75 .*height 70/);
    expect(cliError(() => importPlan(parse(filePvFile('70', 0, 2, KEY.sign(vote.signBytes), vote.signBytes)), CHAIN, KEY.publicKey))).toMatch(/step 2 \(prevote\)/);
  });

  it(`a jump of more than ${FAR_JUMP_HEIGHTS} heights above the cluster's current height asks for --yes, and says how far`, () => {
    const at = (height: bigint) => ({ height, round: 0, step: 3 as const, signBytes: new Uint8Array(0), signature: new Uint8Array(0) });
    expect(farJumpRefusal(CHAIN, 5000n, at(6000n), 'f.json')).toBeNull();
    expect(farJumpRefusal(CHAIN, 5000n, at(4000n), 'f.json')).toBeNull();
    expect(farJumpRefusal(CHAIN, null, at(1000n), 'f.json')).toBeNull();
    expect(farJumpRefusal(CHAIN, 5000n, at(6001n), 'f.json')).toMatch(/from height 5000 to height 6001: a jump of 1001 heights .*--yes; nothing was imported$/);
    expect(farJumpRefusal(CHAIN, null, at(18_000_000n), 'f.json')).toMatch(/no record for chain cosmoshub-4 yet.*height 18000000: a jump of 18000000 heights/);
    expect(farJumpRefusal(CHAIN, 5000n, at(2n ** 63n - 1n), 'f.json')).toMatch(/a jump of 9223372036854770807 heights/);
  });
});
