import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatValidatorStateJson,
  INT64_MAX,
  loadValidatorStateFile,
  parseValidatorStateJson,
  ValidatorStateFileError,
  writeValidatorStateFile,
} from '../../src/keys/validator_state_file';

const SIGNATURE = Buffer.alloc(64, 7);
const SIGN_BYTES = Buffer.from('2108021101000000000000001901000000000000002a0b088092b8c398feffffff01', 'hex');
// As CometBFT writes it after signing a precommit.
const COMETBFT_FILE = [
  '{',
  '  "height": "361402",',
  '  "round": 0,',
  '  "step": 3,',
  `  "signature": "${SIGNATURE.toString('base64')}",`,
  `  "signbytes": "${SIGN_BYTES.toString('hex').toUpperCase()}"`,
  '}',
].join('\n');

function refused(doc: unknown, fragment: string): void {
  const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
  let caught: unknown;
  try {
    parseValidatorStateJson(text, 'state.json');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ValidatorStateFileError);
  expect((caught as Error).message).toContain('state file state.json: ');
  expect((caught as Error).message).toContain(fragment);
}

describe('priv_validator_state.json', () => {
  it('parses a CometBFT file and formats it back byte for byte', () => {
    const state = parseValidatorStateJson(COMETBFT_FILE, 'state.json');
    expect(state.height).toBe(361402n);
    expect(state.round).toBe(0);
    expect(state.step).toBe(3);
    expect(Buffer.from(state.signature!)).toEqual(SIGNATURE);
    expect(Buffer.from(state.signBytes!)).toEqual(SIGN_BYTES);
    expect(formatValidatorStateJson(state)).toBe(COMETBFT_FILE);
  });

  it('parses and formats a fresh file with no signature', () => {
    const fresh = '{\n  "height": "0",\n  "round": 0,\n  "step": 0\n}';
    const state = parseValidatorStateJson(fresh, 'state.json');
    expect(state).toEqual({ height: 0n, round: 0, step: 0 });
    expect(formatValidatorStateJson(state)).toBe(fresh);
  });

  it('treats empty or null signature and signbytes as absent', () => {
    const state = parseValidatorStateJson(JSON.stringify({ height: '5', round: 1, step: 2, signature: '', signbytes: null }), 's');
    expect(state).toEqual({ height: 5n, round: 1, step: 2 });
  });

  it('keeps heights beyond 2^53 exact, up to int64 max', () => {
    const max = parseValidatorStateJson(JSON.stringify({ height: INT64_MAX.toString(), round: 2147483647, step: 1 }), 's');
    expect(max.height).toBe(9223372036854775807n);
    expect(max.round).toBe(2147483647);
    expect(JSON.parse(formatValidatorStateJson(max)).height).toBe('9223372036854775807');
  });

  it('accepts lower-case signbytes and writes them upper-case as Go does', () => {
    const doc = JSON.parse(COMETBFT_FILE) as Record<string, unknown>;
    doc.signbytes = SIGN_BYTES.toString('hex');
    const state = parseValidatorStateJson(JSON.stringify(doc), 's');
    expect(formatValidatorStateJson(state)).toBe(COMETBFT_FILE);
  });

  it('round-trips through a file written with mode 0600', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-file-'));
    try {
      const file = path.join(dir, 'data', 'priv_validator_state.json');
      const state = parseValidatorStateJson(COMETBFT_FILE, 's');
      writeValidatorStateFile(file, state);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(loadValidatorStateFile(file)).toEqual(state);
      expect(() => writeValidatorStateFile(file, state)).toThrow(/already exists/);
      writeValidatorStateFile(file, { height: 361403n, round: 0, step: 1, signature: SIGNATURE, signBytes: SIGN_BYTES }, { overwrite: true });
      expect(loadValidatorStateFile(file).height).toBe(361403n);
      expect(() => loadValidatorStateFile(path.join(dir, 'nope.json'))).toThrow(/state file .*nope.json not found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('refuses, naming the field', () => {
    const base = { height: '10', round: 0, step: 3, signature: SIGNATURE.toString('base64'), signbytes: SIGN_BYTES.toString('hex') };
    it('text that is not JSON', () => refused('{"height":', 'is not valid JSON'));
    it('an array', () => refused([], 'is not a JSON object'));
    it('an unknown field', () => refused({ ...base, last: 1 }, 'unknown field "last"'));
    it('a numeric height', () => refused({ ...base, height: 10 }, 'height must be a decimal string such as "361402", got 10'));
    it('a missing height', () => refused({ round: 0, step: 0 }, 'height must be a decimal string'));
    it('a negative height', () => refused({ ...base, height: '-1' }, 'height "-1" must be a non-negative decimal integer'));
    it('a height that is not decimal', () => refused({ ...base, height: '0x10' }, 'height "0x10"'));
    it('a height beyond int64', () => refused({ ...base, height: '9223372036854775808' }, 'height "9223372036854775808" is beyond int64'));
    it('a negative round', () => refused({ ...base, round: -1 }, 'round must be an integer from 0 to 2147483647, got -1'));
    it('a round beyond int32', () => refused({ ...base, round: 2 ** 31 }, 'round must be an integer'));
    it('a fractional round', () => refused({ ...base, round: 1.5 }, 'round must be an integer'));
    it('a string round', () => refused({ ...base, round: '0' }, 'round must be an integer'));
    it('step 4', () => refused({ ...base, step: 4 }, 'step must be 0, 1 (propose), 2 (prevote) or 3 (precommit), got 4'));
    it('a missing step', () => refused({ height: '1', round: 0 }, 'step must be'));
    it('a signature that is not base64', () => refused({ ...base, signature: '%%%%' }, 'signature is not valid base64'));
    it('a signature of the wrong length', () =>
      refused({ ...base, signature: Buffer.alloc(32).toString('base64') }, 'signature is 32 bytes'));
    it('signbytes that are not hex', () => refused({ ...base, signbytes: 'XYZ' }, 'signbytes must be a hex string'));
    it('a signature without signbytes', () => refused({ ...base, signbytes: '' }, 'has signature but no signbytes'));
    it('signbytes without a signature', () => refused({ ...base, signature: undefined }, 'has signbytes but no signature'));
    it('a signature at step 0', () => refused({ ...base, step: 0 }, 'step is 0 (nothing signed) but the file holds a signature'));
  });

  it('refuses to format a state outside the ranges', () => {
    expect(() => formatValidatorStateJson({ height: -1n, round: 0, step: 0 })).toThrow(/height/);
    expect(() => formatValidatorStateJson({ height: INT64_MAX + 1n, round: 0, step: 0 })).toThrow(/height/);
    expect(() => formatValidatorStateJson({ height: 1n, round: -1, step: 0 })).toThrow(/round/);
    expect(() => formatValidatorStateJson({ height: 1n, round: 0, step: 4 })).toThrow(/step/);
  });
});
