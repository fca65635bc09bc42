// The published test data of the team's shared/privval/vectors.json ("voteSignBytes" and
// "messages"), which come from CometBFT's own tests (privval/msgs_test.go TestPrivvalVectors,
// types/vote_test.go TestVoteSignBytesTestVectors). Copied verbatim so that the suite runs from
// the repository alone; hex is lower case.

export interface VoteSignBytesCase {
  chainId: string;
  vote: { height?: number; round?: number; type?: number; extension?: string };
  signBytes: string;
}

/** The timestamp is Go's zero time in every case. Type: 1 prevote, 2 precommit. */
export const VOTE_SIGN_BYTES_CASES: VoteSignBytesCase[] = [
  { chainId: '', vote: {}, signBytes: '0d2a0b088092b8c398feffffff01' },
  {
    chainId: '',
    vote: { height: 1, round: 1, type: 2 },
    signBytes: '2108021101000000000000001901000000000000002a0b088092b8c398feffffff01',
  },
  {
    chainId: '',
    vote: { height: 1, round: 1, type: 1 },
    signBytes: '2108011101000000000000001901000000000000002a0b088092b8c398feffffff01',
  },
  {
    chainId: '',
    vote: { height: 1, round: 1 },
    signBytes: '1f1101000000000000001901000000000000002a0b088092b8c398feffffff01',
  },
  {
    chainId: 'test_chain_id',
    vote: { height: 1, round: 1 },
    signBytes: '2e1101000000000000001901000000000000002a0b088092b8c398feffffff01320d746573745f636861696e5f6964',
  },
  {
    chainId: 'test_chain_id',
    vote: { height: 1, round: 1, extension: '657874656e73696f6e' },
    signBytes: '2e1101000000000000001901000000000000002a0b088092b8c398feffffff01320d746573745f636861696e5f6964',
  },
];

/** The ed25519 public key of the message vectors (seed = SHA-256("it's a secret")). */
export const VECTOR_PUB_KEY = '556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230';

/**
 * privval Message encodings without the length prefix. Inputs: vote = precommit, height 3,
 * round 2, block id {hash: SHA-256("blockID_hash"), part set header {total 1000000, hash:
 * SHA-256("blockID_part_set_header_hash")}}, timestamp 2019-10-13T16:14:44Z, validator address =
 * first 20 bytes of SHA-256("validator_address"), validator index 56789, extension "extension".
 * proposal = type 1, height 3, round 2, pol round 2, same block id, same timestamp, signature
 * "it's a signature". error = {code 1, description "it's a error"}.
 */
export const MESSAGE_VECTORS_V038: Record<string, string> = {
  pingRequest: '3a00',
  pingResponse: '4200',
  pubKeyRequest: '0a00',
  pubKeyResponse: '12240a220a20556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230',
  pubKeyResponseWithError: '12140a0012100801120c697427732061206572726f72',
  signVoteRequest:
    '1a81010a7f080210031802224a0a208b01023386c371778ecb6368573e539afc3cc860ec3a2f614e54fe5652f4fc80122608c0843d122072db3d959635dff1bb567bedaa70573392c5159666a3f8caf11e413aac52207a2a0608f49a8ded0532146af1f4111082efb388211bc72c55bcd61e9ac3d538d5bb034a09657874656e73696f6e',
  signedVoteResponse:
    '2281010a7f080210031802224a0a208b01023386c371778ecb6368573e539afc3cc860ec3a2f614e54fe5652f4fc80122608c0843d122072db3d959635dff1bb567bedaa70573392c5159666a3f8caf11e413aac52207a2a0608f49a8ded0532146af1f4111082efb388211bc72c55bcd61e9ac3d538d5bb034a09657874656e73696f6e',
  signedVoteResponseWithError: '22250a11220212002a0b088092b8c398feffffff0112100801120c697427732061206572726f72',
  signProposalRequest:
    '2a700a6e08011003180220022a4a0a208b01023386c371778ecb6368573e539afc3cc860ec3a2f614e54fe5652f4fc80122608c0843d122072db3d959635dff1bb567bedaa70573392c5159666a3f8caf11e413aac52207a320608f49a8ded053a10697427732061207369676e6174757265',
  signedProposalResponse:
    '32700a6e08011003180220022a4a0a208b01023386c371778ecb6368573e539afc3cc860ec3a2f614e54fe5652f4fc80122608c0843d122072db3d959635dff1bb567bedaa70573392c5159666a3f8caf11e413aac52207a320608f49a8ded053a10697427732061207369676e6174757265',
  signedProposalResponseWithError: '32250a112a021200320b088092b8c398feffffff0112100801120c697427732061206572726f72',
};

/** Only the messages that differ from v0.38. */
export const MESSAGE_VECTORS_V1: Record<string, string> = {
  pubKeyResponse: '122b1a20556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230220765643235353139',
  pubKeyResponseWithError: '121212100801120c697427732061206572726f72',
};

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}
