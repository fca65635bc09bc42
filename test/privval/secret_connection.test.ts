// SecretConnection: key schedule against CometBFT's golden file, the wire format against a
// scripted peer written from the spec (PROTOCOL.md), and two real SecretConnections over
// localhost TCP. Also the node id and privval address parser.

import {
  KeyObject,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  sign as signMessage,
  verify as verifySignature,
} from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { Transcript } from '../../src/privval/merlin';
import { PrivvalAddressError, isNodeId, nodeIdFromPublicKey, parsePrivvalAddress } from '../../src/privval/node_id';
import {
  FRAME_DATA_MAX_BYTES,
  SEALED_FRAME_BYTES,
  SecretConnection,
  SecretConnectionError,
  SecretConnectionErrorCode,
  deriveSecretConnectionKeys,
  makeSecretConnection,
  secretConnectionKeyMaterial,
} from '../../src/privval/secret_connection';

// cometbft p2p/conn/testdata/TestDeriveSecretsAndChallengeGolden.golden, as shared with the team
// in privval/secret_connection_hkdf.golden (columns: dhSecret, locIsLeast, expectedRecvSecret,
// expectedSendSecret, okm[64:96]), copied so the suite runs from the repository alone.
const HKDF_GOLDEN_LINES: string[] = [
  '9fe4a5a73df12dbd8659b1d9280873fe993caefec6b0ebc2686dd65027148e03,true,80a83ad6afcb6f8175192e41973aed31dd75e3c106f813d986d9567a4865eb2f,96362a04f628a0666d9866147326898bb0847b8db8680263ad19e6336d4eed9e,2632c3fd20f456c5383ed16aa1d56dc7875a2b0fc0d5ff053c3ada8934098c69',
  '0716764b370d543fee692af03832c16410f0a56e4ddb79604ea093b10bb6f654,false,84f2b1e8658456529a2c324f46c3406c3c6fecd5fbbf9169f60bed8956a8b03d,cba357ae33d7234520d5742102a2a6cdb39b7db59c14a58fa8aadd310127630f,576643a8fcc1a4cf866db900f4a150dbe35d44a1b3ff36e4911565c3fa22fc32',
  '358dd73aae2c5b7b94b57f950408a3c681e748777ecab2063c8ca51a63588fa8,false,c2e2f664c8ee561af8e1e30553373be4ae23edecc8c6bd762d44b2afb7f2a037,d1563f428ac1c023c15d8082b2503157fe9ecbde4fb3493edd69ebc299b4970c,89fb6c6439b12fe11a4c604b8ad883f7dc76be33df590818fe5eb15ddb01face',
  '0958308bdb583e639dd399a98cd21077d834b4b5e30771275a5a73a62efcc7e0,false,523c0ae97039173566f7ab4b8f271d8d78feef5a432d618e58ced4f80f7c1696,c1b743401c6e4508e62b8245ea7c3252bbad082e10af10e80608084d63877977,d7c52adf12ebc69677aec4bd387b0c5a35570fe61cb7b8ae55f3ab14b1b79be0',
  'd93d134e72f58f177642ac30f36b2d3cd4720aa7e60feb1296411a9009cf4524,false,47a427bcc1ef6f0ce31dbf343bc8bbf49554b4dd1e2330fd97d0df23ecdbba10,73e23adb7801179349ecf9c8cdf64d71d64a9f1145ba6730e5d029f99eaf8840,a8fdcb77f591bfba7b8483aa15ae7b42054ba68625d51dec005896dfe910281f',
  '6104474c791cda24d952b356fb41a5d273c0ce6cc87d270b1701d0523cd5aa13,true,1cb4397b9e478430321af4647da2ccbef62ff8888542d31cca3f626766c8080f,673b23318826bd31ad1a4995c6e5095c4b092f5598aa0a96381a3e977bc0eaf9,4a25a25c5f75d6cc512f2ba8c1546e6263e9ef8269f0c046c37838cc66aa83e6',
  '8a6002503c15cab763e27c53fc449f6854a210c95cdd67e4466b0f2cb46b629c,false,f01ff06aef356c87f8d2646ff9ed8b855497c2ca00ea330661d84ef421a67e63,4f59bb23090010614877265a1597f1a142fa97b7208e1d554435763505f36f6a,1aadcb1c8b5993da102cebcb60c545b03197c98137064530840f45d917ad300e',
  '31a57c6b1fe33beb1f7ebbbfc06d58c4f307cd355b6f9753e58f3edec16c7559,false,13e126c4cb240349dccf0dc843977671d34a1daffd0517d06ed66b703344db22,d491431906a306af45ecf9f1977e32d7f65a79f5139f931760416de27554b687,5ea7e8e3d5a30503423341609d360d246b61a9159fc07f253a46e357977cd745',
  '71a3c79718b824627faeefdce887d9465b353bd962cc5e97c5b5dfedab457ef9,true,e2e8eea547dcee7eafa89ae41f48ab049beac24935fad75258924fd5273d23cb,45d2e839bf36a3616cbe8a9bdbd4e7b288bf5bf1e6e79c07995eb2b18eb2eaff,7ee50e0810bc9f98e56bc46de5da22d84b3efa52fe5d85db4b2344530ef17ed8',
  '2e9dba2eb4f9019c2628ff5899744469c26caf793636f30ddb76601751aee968,false,8bfc3b314e4468d4e19c9d28b7bfd5b5532263105273b0fe80801f6146313993,b77d2b223e27038f978ab87a725859f6995f903056bdbd594ab04f0b2cbad517,9032be49a9cbcd1de6fee332f8f24ebf545c05e0175b98c564e7d1e69630ae20',
  '81322b22c835efb26d78051f3a3840a9d01aa558c019ecfa26483b5c5535728c,true,61eacb7e9665e362ef492ef950cea58f8bc67434ab7ee5545139147adf395da4,0f600ef0c358cae938969f434c2ec0ce3be632fdf5246b7bb8ee3ff294036ecd,a7026b4c21fe225ecd775ae81249405c6f492882eb85f3f8e2232f11e515561e',
  '826b86c5e8cb4173ff2d05c48e3537140c5e0f26f7866bbcd4e57616806e1be2,true,ae44dabd077d227c8d898930a7705a2b785c8849121282106c045bb58b66eb36,24b2c1b1e2a9ebe387df6dfb9fbde6c681e4eeb0a33bb1c3df3789087f56ffe3,b37a64ea97431b25cb271c4c8435f6dd97118b35da57168f3c3c269920f7bbc1',
  '18b5a7b973d4b263072e69515c5b6ed22191c3d6e851aaba872904672f8344ec,true,ce402af2fb93b6ef18cd406f7c437d3cbfb09141b7a02116b1cfbabbf75ad84a,c86bdb1709ef0f4a31a818843660f83338b9db77e262bb7c6546138e51c6046b,11fcd8e59c4e7f6050d3cd332337db794ae31260c159e409af3ed8f4d6523bf4',
  '26d10c56872b72bb76ae7c7b3f074afb3d4a364e5e3f8c661be9b4f5a522ea75,true,1c9782a8485c4ecb13904ec551a7f9300ecd687abfbe63c91c7fd583f84a7a4d,ae3f4ccd0dfee8b514f67db2e923714d324935b9ae9e488d088ebb79569d8cc4,8139a3ab728b0e765e4d90549ab8eed7e1048a83267eafa7442208a7f627558a',
  '558838dfcfe94105c46a4ade4548e6c96271d33e6c752661356cc66024615bae,true,d5a38625be74177318072cf877f2427ce2327e9b58d2eb134d0ac52c9126572f,dead938f77007e3164b6eee4cd153433d03ca5d9ec64f41aa6b2d6a069edeeda,4a081a356361da429c564cf7ac8e217121bbe8c5ee5c9632bae0b7ddbe94f9d4',
  'f4a3f6a93a4827a59682fd8bf1a8e4fd9aaff01a337a86e1966c8fff0e746014,true,39a0aea2a8ac7f0524d63e395a25b98fc3844ed039f20b11058019dca2b3840f,6ff53243426ded506d22501ae0f989d9946b86a8bb2550d7ed6e90fdf41d0e7c,8784e728bf12f465ed20dc6f0e1d949a68e5795d4799536427a6f859547b7fd6',
  '1717020e1c4fca1b4926dba16671c0c04e4f19c621c646cb4525fa533b1c205c,false,b9a909767f3044608b4e314b149a729bef199f8311310e1ecd2072e5659b7194,7baf0ff4b980919cf545312f45234976f0b6c574aac5b772024f73248aad7538,99a18e1e4b039ef3777a8fdd0d9ffaccaf3b4523b6d26adacfe91cc5fcd9977e',
  'de769062be27b2a4248dd5be315960c8d231738417ece670c2d6a1c52877b59e,true,cc6c2086718b21813513894546e85766d34c754e81fd6a19c12fc322ffb9b1c3,5a7da7500191c65a5f1fbb2a6122717edc70ca0469baf2bbbd6ca8255b93c077,8c0d32091dc687f1399c754a617d224742726bece848b50c35b4db5f0469ace7',
  '7c5549f36767e02ebf49a4616467199459aa6932dcc091f182f822185659559a,true,d8335e606128b0c621ff6cda99dc62babf4a4436c574c5c478c20122712727d0,0a7c673cccd6f7fd4ed1673f7d0f2cb08961faced123ca901b74581d5bdc8b25,16ac1eb2a39384716c7d490272d87e76c10665fdb331e1883435de175ce4460e',
  'ecf8261ebda248dc7796f98987efe1b7be363a59037c9e61044490d08a077610,true,53def80fcdba01367c0ea36459b57409f59a771f57a8259b54f24785e5656b7d,90140870b3b1e84c9dcf7836eac0581b16fe0a40307619d267c6f871e1efce6a,c6d1836b66c1a722a377c7eb058995a0ef8711839c6d6a0cdd6ad1ff70f935a5',
  '21c0ef76ce0eae9391ceabfb08a861899db55ac4ccf010ed672599669c6938f2,false,8af5482cc015093f261d5b7ce87035dda41d8318b9960b52cca3e5f0d3f61808,f4d5338bcb57262e1034f01ed3858ca1e5d66a73f18588e72f3dc8c6a730be0c,7ba82c2820c95e3354d9a6ab4920ebcd7938ce19e25930fee58439246b0321b1',
  '05f3b66d6b0fe906137e60b4719083a2465106badedcdae3a4c91c46c5367340,false,e5c9e074e95c2896fa4093830e96e9cf159b8dcba2ead21f37237cf6e9a9aaa2,b3a0a50309b4ca23cd34363fd8df30e73ec4a275973986c2e11a53752eff0a3b,358a62056ff05f27185b9952d291c6346171937f6811cafbacddd82e17010f39',
  'fef0251cff7c5d1ba0514f1820a8265453365fd9f5bb8a92f955dc007a40e730,true,e35a0aff6e9060a39c15d276a1337f1948d0be0aef81fcd563a6783115b5283d,20a8efe83474253d70e5fd847df0cd26222cd39e9210687b68c0a23b73429108,2989fab4278b32f4f40dc02227ab30e10f62e15ab7aa7382da769b1d084e33df',
  '1b7bb172baa2753ec9c3e81a7a9b4c6ef10f9ed7afcafa975395f095eca63a54,false,a98257203987d0c4d260d8feef841466977276612e268b69b5ce4191af161b29,ea177a20d6c1f73f9667090568f9197943037d6586f7e2d6b7b81756fc71df5f,844eff318ef4c6ee45f158c1946ff999e40ffac70883ab6d6b90995f246e69a2',
  '5ee9b60a25753066d0ecc1155ca6afcc6b853ba558c9533c134a93b82e756856,true,9889460b95ca9545864a4a5194891b7d475362428d6d797532da10bf1fc92076,a7a96739abd8eceb6751afc98df68e29f7af16fbfda3d4710df9c35b6dcdb4d5,998326285c90a2ea2e1f6c6dac79530742645e3dd1b2b42a0733388a99cab81b',
  'a102613781872f88a949d82cb5efcc2e0f437010a950d71b87929ecb480af3b3,false,e099080a55b9b29ccecbbb0d91dbe49defcc217efd1de0588e0836ce5970d327,319293b8660a3cea9879487645ddadda72a5c60079c9154bb0dbb8a0c9cda79e,4d567f1b1a1b304347cf7b129e4c7a05aa57e2bbb8ea335db9e33d05fab12e4d',
  '1d4538180d06f37c43e8caa2d0d80aa7c5d701c8c3e31508704131427837f5cc,true,73afeeb46efc03d2b9f20fc271752528e52b8931287296a7e4367c96bccb32bd,59dc4b69d9ccf6f77715e47fb9bf454f1b90bbd05f1d2bbd07c7d6666f31c91f,ac59d735dfcdc3a0a4ce5a10f09dea8c6afd47de9c0308dc817e3789c8aee963',
  'e4c480af1b0e3487a331761f64eb3f020a2b8ffa25ad17e00f57aa7ec2c5e84d,true,1145e9f001c70d364e97fcdbc88a2a3d6aecdd975212923820f90a0b215f11f6,b802ac7ef21c8abaeae024c76e3fa70a2a82f73e0bb7c7fe76752ad1742af2e6,0a95876e30617e32ae25acd3af97c37dc075825f800def3f2bf3f68a268744e9',
  '3a7a83dd657dd6277bcfa957534f40d9b559039aad752066a8d7ed9a6d9c0ab5,false,f90a251ad2338b19cfee6a7965f6f5098136974abb99b3d24553fa6117384978,e422ed7567e5602731b3d980106d0546ef4a4da5eb7175d66a452df12d37bad2,b086bed71dfb6662cb10e2b4fb16a7c22394f488e822fc19697db6077f6caf6f',
  '273e8560c2b1734e863a6542bded7a6fcbfb49a12770bd8866d4863dceea3ae9,false,3b7849a362e7b7ba8c8b8a0cd00df5180604987dbda6c03f37d9a09fdb27fb28,e6cdf4d767df0f411e970da8dda6acd3c2c34ce63908d8a6dbf3715daa0318e4,359a4a39fbdffc808161a48a3ffbe77fc6a03ff52324c22510a42e46c08a6f22',
  '9b4f8702991be9569b6c0b07a2173104d41325017b27d68fa5af91cdab164c4d,true,598323677db11ece050289f31881ee8caacb59376c7182f9055708b2a4673f84,7675adc1264b6758beb097a991f766f62796f78c1cfa58a4de3d81c36434d3ae,d5d8d610ffd85b04cbe1c73ff5becd5917c513d9625b001f51d486d0dadcefe3',
  'e1a686ba0169eb97379ebf9d22e073819450ee5ad5f049c8e93016e8d2ec1430,false,ffe461e6075865cde2704aa148fd29bcf0af245803f446cb6153244f25617993,46df6c25fa0344e662490c4da0bddca626644e67e66705840ef08aae35c343fa,e9a56d75acad4272ab0c49ee5919a4e86e6c5695ef065704c1e592d4e7b41a10',
];

// The key of the team's message vectors (vectors.json "keys"): seed = SHA-256("it's a secret").
const VECTOR_SEED = createHash('sha256').update("it's a secret").digest();
const VECTOR_PUBLIC_KEY = '556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230';
// First 20 bytes of SHA-256 of that key, computed independently (Python hashlib).
const VECTOR_NODE_ID = 'dc52d5cf8dfd1793d71038b342a29b01ad8a5d63';

const TEST_TIMEOUT_MS = 3000;

// ---------------------------------------------------------------------------------------------
// Helpers

interface Identity {
  privateKey: KeyObject;
  publicKey: Buffer;
}

function rawPublic(key: KeyObject): Buffer {
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32));
}

function newIdentity(): Identity {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** Both ends of a real localhost TCP connection. */
async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSide] = await accepted;
  server.close();
  return [client, serverSide];
}

const openSockets: net.Socket[] = [];
afterEach(() => {
  for (const s of openSockets.splice(0)) s.destroy();
});

async function trackedTcpPair(): Promise<[net.Socket, net.Socket]> {
  const pair = await tcpPair();
  openSockets.push(...pair);
  return pair;
}

/** Rejects if the promise does not settle in time, so a hang fails the test instead of stalling it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Buffers a stream's bytes and hands them out in exact amounts. */
class ByteReader {
  private chunks: Buffer[] = [];
  private total = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.total += chunk.length;
      this.notify();
    });
    stream.on('end', () => this.finish());
    stream.on('close', () => this.finish());
    stream.on('error', () => this.finish());
  }

  get available(): number {
    return this.total;
  }

  async read(n: number): Promise<Buffer> {
    const wait = async (): Promise<Buffer> => {
      while (this.total < n) {
        if (this.ended) throw new Error(`stream ended with ${this.total} of ${n} bytes`);
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
      const all = Buffer.concat(this.chunks);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
      this.total = all.length - n;
      return all.subarray(0, n);
    };
    return within(wait(), TEST_TIMEOUT_MS, `reading ${n} bytes`);
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** Byte equality without jest's deep comparison, which crawls on large buffers. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  if (actual.equals(expected)) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  throw new Error(`byte mismatch at offset ${i} (lengths ${actual.length} and ${expected.length})`);
}

async function expectSecretConnectionError(promise: Promise<unknown>, code: SecretConnectionErrorCode): Promise<SecretConnectionError> {
  let caught: unknown;
  try {
    await within(promise, TEST_TIMEOUT_MS, `expecting ${code}`);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SecretConnectionError);
  expect((caught as SecretConnectionError).code).toBe(code);
  return caught as SecretConnectionError;
}

/** Resolves with the error a SecretConnection is destroyed with (or null if it closes cleanly). */
function closure(conn: SecretConnection): Promise<Error | null> {
  return new Promise((resolve) => {
    let error: Error | null = null;
    conn.on('error', (err) => {
      error = err;
    });
    conn.on('close', () => resolve(error));
  });
}

async function handshakePair(
  aOpts: Parameters<typeof makeSecretConnection>[2] = {},
  bOpts: Parameters<typeof makeSecretConnection>[2] = {},
): Promise<{ a: SecretConnection; b: SecretConnection; idA: Identity; idB: Identity }> {
  const [sa, sb] = await trackedTcpPair();
  const idA = newIdentity();
  const idB = newIdentity();
  const [a, b] = await within(
    Promise.all([makeSecretConnection(sa, idA.privateKey, aOpts), makeSecretConnection(sb, idB.privateKey, bOpts)]),
    TEST_TIMEOUT_MS,
    'handshake',
  );
  return { a, b, idA, idB };
}

// ---------------------------------------------------------------------------------------------
// A peer written from the protocol description, using node:crypto directly for X25519,
// ChaCha20-Poly1305 and Ed25519 (only Merlin and the HKDF split, each checked against vectors
// above, come from the code under test). It lets tests look at the exact bytes on the wire and
// send what an honest peer never would.

function nonce(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(BigInt(counter), 4);
  return n;
}

function sealRawFrame(key: Uint8Array, counter: number, lengthField: number, data: Buffer): Buffer {
  const plain = Buffer.alloc(1028);
  plain.writeUInt32LE(lengthField, 0);
  data.copy(plain, 4);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  const body = cipher.update(plain);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag()]);
}

function openRawFrame(key: Uint8Array, counter: number, sealed: Buffer): Buffer {
  expect(sealed.length).toBe(1044);
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(1028));
  const plain = decipher.update(sealed.subarray(0, 1028));
  decipher.final();
  return plain;
}

interface ScriptedPeerSession {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  sendCounter: number;
  recvCounter: number;
  challenge: Uint8Array;
  /** The plain 1028-byte frame that carried the other side's AuthSigMessage. */
  receivedAuthFrame: Buffer;
}

interface ScriptedPeerBehaviour {
  /** Replace the ephemeral key message with these bytes (and stop there). */
  ephemeralMessage?: Buffer;
  /** Sign something else than the challenge. */
  signWrongChallenge?: boolean;
  /** Send this AuthSigMessage body instead of the honest one. */
  authMessageBody?: (publicKey: Buffer, signature: Buffer) => Buffer;
  /** Extra bytes written in the same write as the auth frame. */
  afterAuth?: (session: ScriptedPeerSession) => Buffer;
}

function honestAuthBody(publicKey: Buffer, signature: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0a, 0x22, 0x0a, 0x20]), publicKey, Buffer.from([0x12, 0x40]), signature]);
}

async function scriptedPeerHandshake(
  socket: Duplex,
  reader: ByteReader,
  identity: Identity,
  behaviour: ScriptedPeerBehaviour = {},
): Promise<ScriptedPeerSession> {
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = rawPublic(ephemeral.publicKey);
  if (behaviour.ephemeralMessage !== undefined) {
    socket.write(behaviour.ephemeralMessage);
    throw new Error('scripted peer stops after a custom ephemeral message');
  }
  socket.write(Buffer.concat([Buffer.from([0x22, 0x0a, 0x20]), ephemeralPublic]));
  const theirs = await reader.read(35);
  // PROTOCOL.md step 1: exactly 22 0a 20 <32 bytes>.
  expect(theirs.subarray(0, 3).toString('hex')).toBe('220a20');
  const theirPublic = theirs.subarray(3);

  const weAreLo = Buffer.compare(ephemeralPublic, theirPublic) < 0;
  const transcript = new Transcript('TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH');
  transcript.appendMessage('EPHEMERAL_LOWER_PUBLIC_KEY', weAreLo ? ephemeralPublic : theirPublic);
  transcript.appendMessage('EPHEMERAL_UPPER_PUBLIC_KEY', weAreLo ? theirPublic : ephemeralPublic);
  const theirKey = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), theirPublic]),
    format: 'der',
    type: 'spki',
  });
  const dh = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: theirKey });
  transcript.appendMessage('DH_SECRET', dh);
  const keys = deriveSecretConnectionKeys(dh, weAreLo);
  const challenge = transcript.extractBytes('SECRET_CONNECTION_MAC', 32);
  const session: ScriptedPeerSession = {
    sendKey: keys.sendSecret,
    recvKey: keys.recvSecret,
    sendCounter: 0,
    recvCounter: 0,
    challenge,
    receivedAuthFrame: Buffer.alloc(0),
  };

  const signed = behaviour.signWrongChallenge ? Buffer.alloc(32, 7) : Buffer.from(challenge);
  const signature = signMessage(null, signed, identity.privateKey);
  const body = (behaviour.authMessageBody ?? honestAuthBody)(identity.publicKey, signature);
  const authMessage = Buffer.concat([Buffer.from([body.length]), body]);
  const authFrame = sealRawFrame(session.sendKey, session.sendCounter++, authMessage.length, authMessage);
  const extra = behaviour.afterAuth?.(session) ?? Buffer.alloc(0);
  socket.write(Buffer.concat([authFrame, extra]));

  session.receivedAuthFrame = openRawFrame(session.recvKey, session.recvCounter++, await reader.read(1044));
  return session;
}

// ---------------------------------------------------------------------------------------------

describe('HKDF key split (cometbft TestDeriveSecretsAndChallengeGolden)', () => {
  test('the golden file has 32 lines', () => {
    expect(HKDF_GOLDEN_LINES).toHaveLength(32);
  });

  test.each(HKDF_GOLDEN_LINES.map((line, i) => [i + 1, line] as const))('line %i', (_n, line) => {
    const [dhHex, locIsLeastText, recvHex, sendHex, unusedChallengeHex] = line.split(',');
    expect(['true', 'false']).toContain(locIsLeastText);
    const dh = Buffer.from(dhHex, 'hex');
    const keys = deriveSecretConnectionKeys(dh, locIsLeastText === 'true');
    expect(Buffer.from(keys.recvSecret).toString('hex')).toBe(recvHex);
    expect(Buffer.from(keys.sendSecret).toString('hex')).toBe(sendHex);
    expect(Buffer.from(secretConnectionKeyMaterial(dh).subarray(64, 96)).toString('hex')).toBe(unusedChallengeHex);
  });

  test('the two sides of a connection get swapped keys', () => {
    const dh = Buffer.alloc(32, 9);
    const lo = deriveSecretConnectionKeys(dh, true);
    const hi = deriveSecretConnectionKeys(dh, false);
    expect(Buffer.from(lo.sendSecret)).toEqual(Buffer.from(hi.recvSecret));
    expect(Buffer.from(lo.recvSecret)).toEqual(Buffer.from(hi.sendSecret));
    expect(Buffer.from(lo.sendSecret)).not.toEqual(Buffer.from(lo.recvSecret));
  });

  test('refuses a DH secret that is not 32 bytes', () => {
    expect(() => deriveSecretConnectionKeys(Buffer.alloc(31), true)).toThrow(RangeError);
  });
});

describe('SecretConnection between two peers over localhost TCP', () => {
  test('handshake authenticates both identities', async () => {
    const { a, b, idA, idB } = await handshakePair();
    expect(Buffer.from(a.remotePublicKey)).toEqual(idB.publicKey);
    expect(Buffer.from(b.remotePublicKey)).toEqual(idA.publicKey);
    expect(a.remoteNodeId).toBe(nodeIdFromPublicKey(idB.publicKey));
    a.destroy();
    b.destroy();
  });

  test('moves a multi-frame message and many small ones in both directions, in order', async () => {
    const { a, b } = await handshakePair();
    const readerA = new ByteReader(a);
    const readerB = new ByteReader(b);

    const big = Buffer.alloc(5000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    a.write(big);
    b.write(Buffer.from(big).reverse());
    expectSameBytes(await readerB.read(5000), big);
    expectSameBytes(await readerA.read(5000), Buffer.from(big).reverse());

    const small: Buffer[] = [];
    for (let i = 0; i < 300; i++) small.push(Buffer.alloc(1 + ((i * 37) % 200), i & 0xff));
    for (const m of small) {
      a.write(m);
      b.write(m);
    }
    const all = Buffer.concat(small);
    expectSameBytes(await readerB.read(all.length), all);
    expectSameBytes(await readerA.read(all.length), all);

    // The largest privval request: a vote with a 1 MiB extension.
    const huge = Buffer.alloc(1024 * 1024 + 1024);
    for (let i = 0; i < huge.length; i++) huge[i] = (i >>> 3) & 0xff;
    b.write(huge);
    expectSameBytes(await readerA.read(huge.length), huge);
    expect(readerA.available).toBe(0);
    a.destroy();
    b.destroy();
  });

  test('an identity given as a seed authenticates as its public key (vectors.json key)', async () => {
    const [sa, sb] = await trackedTcpPair();
    const other = newIdentity();
    const [a, b] = await within(
      Promise.all([makeSecretConnection(sa, VECTOR_SEED), makeSecretConnection(sb, other.privateKey)]),
      TEST_TIMEOUT_MS,
      'handshake',
    );
    expect(Buffer.from(b.remotePublicKey).toString('hex')).toBe(VECTOR_PUBLIC_KEY);
    expect(b.remoteNodeId).toBe(VECTOR_NODE_ID);
    a.destroy();
    b.destroy();
  });

  test('ending one side ends the other cleanly', async () => {
    const { a, b } = await handshakePair();
    const readerB = new ByteReader(b);
    const bClosed = closure(b);
    a.end(Buffer.from('last words'));
    expect((await readerB.read(10)).toString()).toBe('last words');
    expect(await within(bClosed, TEST_TIMEOUT_MS, 'b closes')).toBeNull();
    a.destroy();
  });

  test('pinning accepts the right key and node id', async () => {
    const [sa, sb] = await trackedTcpPair();
    const idA = newIdentity();
    const idB = newIdentity();
    const [a, b] = await within(
      Promise.all([
        makeSecretConnection(sa, idA.privateKey, { expectedRemoteKey: idB.publicKey }),
        makeSecretConnection(sb, idB.privateKey, { expectedRemoteNodeId: nodeIdFromPublicKey(idA.publicKey).toUpperCase() }),
      ]),
      TEST_TIMEOUT_MS,
      'handshake',
    );
    expect(Buffer.from(a.remotePublicKey)).toEqual(idB.publicKey);
    expect(Buffer.from(b.remotePublicKey)).toEqual(idA.publicKey);
    a.destroy();
    b.destroy();
  });

  test('pinning refuses another key, and destroys the socket', async () => {
    const [sa, sb] = await trackedTcpPair();
    const idA = newIdentity();
    const idB = newIdentity();
    const stranger = newIdentity();
    const aResult = makeSecretConnection(sa, idA.privateKey, { expectedRemoteKey: stranger.publicKey });
    const bResult = makeSecretConnection(sb, idB.privateKey).catch((err: unknown) => err);
    const err = await expectSecretConnectionError(aResult, 'REMOTE_KEY_MISMATCH');
    expect(err.message).toContain(nodeIdFromPublicKey(idB.publicKey));
    expect(sa.destroyed).toBe(true);
    const bOutcome = await within(bResult, TEST_TIMEOUT_MS, 'b settles');
    if (bOutcome instanceof SecretConnection) bOutcome.destroy();
  });

  test('pinning by node id refuses another node', async () => {
    const [sa, sb] = await trackedTcpPair();
    const aResult = makeSecretConnection(sa, newIdentity().privateKey, { expectedRemoteNodeId: '00'.repeat(20) });
    const bResult = makeSecretConnection(sb, newIdentity().privateKey).catch((err: unknown) => err);
    await expectSecretConnectionError(aResult, 'REMOTE_KEY_MISMATCH');
    const bOutcome = await within(bResult, TEST_TIMEOUT_MS, 'b settles');
    if (bOutcome instanceof SecretConnection) bOutcome.destroy();
  });

  test('a flipped bit in a sealed frame fails the MAC and destroys the connection', async () => {
    // a <-> [a1 a2] proxy [b1 b2] <-> b; the proxy flips one bit in the first data frame b sends.
    const [a1, a2] = await trackedTcpPair();
    const [b1, b2] = await trackedTcpPair();
    const handshakeBytes = 35 + SEALED_FRAME_BYTES;
    let fromB = 0;
    b1.on('data', (chunk: Buffer) => {
      const copy = Buffer.from(chunk);
      const target = handshakeBytes + 100 - fromB;
      if (target >= 0 && target < copy.length) copy[target] ^= 0x10;
      fromB += chunk.length;
      a2.write(copy);
    });
    a2.on('data', (chunk: Buffer) => b1.write(chunk));
    const [a, b] = await within(
      Promise.all([makeSecretConnection(a1, newIdentity().privateKey), makeSecretConnection(b2, newIdentity().privateKey)]),
      TEST_TIMEOUT_MS,
      'handshake through the proxy',
    );
    const received: Buffer[] = [];
    a.on('data', (chunk: Buffer) => received.push(chunk));
    const aClosed = closure(a);
    b.write(Buffer.from('vote please'));
    const err = await within(aClosed, TEST_TIMEOUT_MS, 'a closes');
    expect(err).toBeInstanceOf(SecretConnectionError);
    expect((err as SecretConnectionError).code).toBe('FRAME_AUTH_FAILED');
    expect(a.destroyed).toBe(true);
    expect(a1.destroyed).toBe(true);
    expect(received).toHaveLength(0);
    b.destroy();
  });

  test('a flipped bit in the auth frame fails the handshake', async () => {
    const [a1, a2] = await trackedTcpPair();
    const [b1, b2] = await trackedTcpPair();
    let fromB = 0;
    b1.on('data', (chunk: Buffer) => {
      const copy = Buffer.from(chunk);
      const target = 35 + 500 - fromB;
      if (target >= 0 && target < copy.length) copy[target] ^= 0x01;
      fromB += chunk.length;
      a2.write(copy);
    });
    a2.on('data', (chunk: Buffer) => b1.write(chunk));
    b1.on('close', () => a2.destroy());
    a2.on('close', () => b1.destroy());
    const bResult = makeSecretConnection(b2, newIdentity().privateKey).catch((err: unknown) => err);
    await expectSecretConnectionError(makeSecretConnection(a1, newIdentity().privateKey), 'FRAME_AUTH_FAILED');
    const bOutcome = await within(bResult, TEST_TIMEOUT_MS, 'b settles');
    if (bOutcome instanceof SecretConnection) bOutcome.destroy();
  });
});

describe('SecretConnection wire format and refusals (scripted peer)', () => {
  async function withScriptedPeer(
    behaviour: ScriptedPeerBehaviour = {},
    opts: Parameters<typeof makeSecretConnection>[2] = {},
  ): Promise<{
    result: Promise<SecretConnection>;
    peerSocket: net.Socket;
    ourSocket: net.Socket;
    peer: Promise<ScriptedPeerSession>;
    reader: ByteReader;
    ours: Identity;
    theirs: Identity;
  }> {
    const [ourSocket, peerSocket] = await trackedTcpPair();
    const ours = newIdentity();
    const theirs = newIdentity();
    const reader = new ByteReader(peerSocket);
    const result = makeSecretConnection(ourSocket, ours.privateKey, opts);
    result.catch(() => undefined); // observed by each test
    const peer = scriptedPeerHandshake(peerSocket, reader, theirs, behaviour);
    peer.catch(() => undefined);
    return { result, peerSocket, ourSocket, peer, reader, ours, theirs };
  }

  test('auth message, frame layout, nonces and framing are exactly as specified', async () => {
    const { result, peer, reader, ours, theirs, peerSocket } = await withScriptedPeer();
    const session = await within(peer, TEST_TIMEOUT_MS, 'scripted handshake');
    const conn = await within(result, TEST_TIMEOUT_MS, 'our handshake');
    expect(Buffer.from(conn.remotePublicKey)).toEqual(theirs.publicKey);

    // AuthSigMessage: uvarint(102) | 0a 22 | 0a 20 <pub> | 12 40 <sig>, then zero padding.
    const auth = session.receivedAuthFrame;
    expect(auth.readUInt32LE(0)).toBe(103);
    const message = auth.subarray(4, 107);
    expect(message.subarray(0, 5).toString('hex')).toBe('660a220a20');
    expect(message.subarray(5, 37)).toEqual(ours.publicKey);
    expect(message.subarray(37, 39).toString('hex')).toBe('1240');
    const signature = message.subarray(39, 103);
    expect(verifySignature(null, session.challenge, createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), ours.publicKey]),
      format: 'der',
      type: 'spki',
    }), signature)).toBe(true);
    expect(auth.subarray(107).every((byte) => byte === 0)).toBe(true);

    // 5000 bytes: frames of 1024, 1024, 1024, 1024, 904, nonces 1..5, zero padding.
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    conn.write(data);
    const wire = await reader.read(5 * 1044);
    const opened: Buffer[] = [];
    for (let f = 0; f < 5; f++) {
      const plain = openRawFrame(session.recvKey, session.recvCounter++, wire.subarray(f * 1044, (f + 1) * 1044));
      const length = plain.readUInt32LE(0);
      expect(length).toBe(f < 4 ? 1024 : 904);
      expect(plain.subarray(4 + length).every((byte) => byte === 0)).toBe(true);
      opened.push(plain.subarray(4, 4 + length));
    }
    expectSameBytes(Buffer.concat(opened), data);

    // Past 256 frames the counter carries into its second byte: nonces must follow the LE uint64.
    const many = Buffer.alloc(300 * 1024);
    for (let i = 0; i < many.length; i++) many[i] = (i >>> 10) & 0xff;
    conn.write(many);
    const manyWire = await reader.read(300 * 1044);
    for (let f = 0; f < 300; f++) {
      const plain = openRawFrame(session.recvKey, session.recvCounter++, manyWire.subarray(f * 1044, (f + 1) * 1044));
      expect(plain.readUInt32LE(0)).toBe(1024);
      expect(plain[4]).toBe(f & 0xff);
    }

    // And back: a zero-length frame carries nothing and is accepted, as in CometBFT.
    const ourReader = new ByteReader(conn);
    peerSocket.write(
      Buffer.concat([
        sealRawFrame(session.sendKey, session.sendCounter++, 0, Buffer.alloc(0)),
        sealRawFrame(session.sendKey, session.sendCounter++, 5, Buffer.from('hello')),
      ]),
    );
    expect((await ourReader.read(5)).toString()).toBe('hello');
    conn.destroy();
  });

  test('data pipelined behind the peer auth message is delivered', async () => {
    const { result, peer } = await withScriptedPeer({
      afterAuth: (s) => sealRawFrame(s.sendKey, s.sendCounter++, 9, Buffer.from('early req')),
    });
    const conn = await within(result, TEST_TIMEOUT_MS, 'our handshake');
    await peer;
    const reader = new ByteReader(conn);
    expect((await reader.read(9)).toString()).toBe('early req');
    conn.destroy();
  });

  test('a bad frame pipelined behind the auth message fails the handshake', async () => {
    const { result } = await withScriptedPeer({
      afterAuth: (s) => sealRawFrame(s.sendKey, s.sendCounter + 5, 3, Buffer.from('bad')), // wrong nonce
    });
    await expectSecretConnectionError(result, 'FRAME_AUTH_FAILED');
  });

  test('a frame claiming more than 1024 data bytes destroys the connection', async () => {
    const { result, peer, peerSocket } = await withScriptedPeer();
    const conn = await within(result, TEST_TIMEOUT_MS, 'our handshake');
    const session = await peer;
    const closed = closure(conn);
    conn.resume();
    peerSocket.write(sealRawFrame(session.sendKey, session.sendCounter++, FRAME_DATA_MAX_BYTES + 1, Buffer.alloc(1024, 1)));
    const err = await within(closed, TEST_TIMEOUT_MS, 'closes');
    expect((err as SecretConnectionError).code).toBe('FRAME_TOO_LONG');
    expect(conn.destroyed).toBe(true);
  });

  test('the peer closing inside a frame is an error, not a clean end', async () => {
    const { result, peer, peerSocket } = await withScriptedPeer();
    const conn = await within(result, TEST_TIMEOUT_MS, 'our handshake');
    const session = await peer;
    const closed = closure(conn);
    conn.resume();
    peerSocket.end(sealRawFrame(session.sendKey, session.sendCounter++, 3, Buffer.from('abc')).subarray(0, 500));
    const err = await within(closed, TEST_TIMEOUT_MS, 'closes');
    expect((err as SecretConnectionError).code).toBe('CLOSED_MID_FRAME');
  });

  test('refuses an all-zero ephemeral key', async () => {
    const { result } = await withScriptedPeer({ ephemeralMessage: Buffer.concat([Buffer.from('220a20', 'hex'), Buffer.alloc(32)]) });
    const err = await expectSecretConnectionError(result, 'LOW_ORDER_DH');
    expect(err.message).toMatch(/low-order/);
  });

  // The small-order points of Curve25519 and their non-canonical encodings (the list libsodium
  // and the X25519 literature use): every one makes the DH result all zeros.
  test.each([
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ])('refuses the low-order ephemeral key %s', async (hex) => {
    const { result, ourSocket } = await withScriptedPeer({
      ephemeralMessage: Buffer.concat([Buffer.from('220a20', 'hex'), Buffer.from(hex, 'hex')]),
    });
    await expectSecretConnectionError(result, 'LOW_ORDER_DH');
    expect(ourSocket.destroyed).toBe(true);
  });

  test.each([
    ['a 31-byte key', Buffer.concat([Buffer.from('210a1f', 'hex'), Buffer.alloc(31, 5)])],
    ['another field number', Buffer.concat([Buffer.from('22' + '1220', 'hex'), Buffer.alloc(32, 5)])],
    ['an oversized length prefix', Buffer.from('ffffffff0f', 'hex')],
    ['a truncated inner length', Buffer.concat([Buffer.from('220a7f', 'hex'), Buffer.alloc(32, 5)])],
    ['a repeated key field', Buffer.concat([Buffer.from('440a20', 'hex'), Buffer.alloc(32, 5), Buffer.from('0a20', 'hex'), Buffer.alloc(32, 6)])],
  ])('refuses an ephemeral key message with %s', async (_what, message) => {
    const { result } = await withScriptedPeer({ ephemeralMessage: message });
    await expectSecretConnectionError(result, 'BAD_EPHEMERAL_KEY_MESSAGE');
  });

  test('refuses a peer that reflects our own ephemeral key', async () => {
    const [ourSocket, peerSocket] = await trackedTcpPair();
    peerSocket.once('data', (chunk: Buffer) => peerSocket.write(chunk.subarray(0, 35)));
    await expectSecretConnectionError(makeSecretConnection(ourSocket, newIdentity().privateKey), 'BAD_EPHEMERAL_KEY_MESSAGE');
  });

  test('refuses a signature that is not of the challenge', async () => {
    const { result } = await withScriptedPeer({ signWrongChallenge: true });
    await expectSecretConnectionError(result, 'AUTH_SIGNATURE_INVALID');
  });

  test('refuses a signature made by another key than the one presented', async () => {
    const impostor = newIdentity();
    const { result } = await withScriptedPeer({ authMessageBody: (_pub, sig) => honestAuthBody(impostor.publicKey, sig) });
    await expectSecretConnectionError(result, 'AUTH_SIGNATURE_INVALID');
  });

  test.each([
    ['a secp256k1 key', (pub: Buffer, sig: Buffer) =>
      Buffer.concat([Buffer.from('0a23', 'hex'), Buffer.from('1221', 'hex'), Buffer.alloc(33, 2), Buffer.from('1240', 'hex'), sig])],
    ['no signature', (pub: Buffer) => Buffer.concat([Buffer.from('0a220a20', 'hex'), pub])],
    ['a short signature', (pub: Buffer, sig: Buffer) =>
      Buffer.concat([Buffer.from('0a220a20', 'hex'), pub, Buffer.from('123f', 'hex'), sig.subarray(0, 63)])],
    ['garbage', () => Buffer.from('ff'.repeat(40), 'hex')],
  ])('refuses an AuthSigMessage with %s', async (_what, body) => {
    const { result } = await withScriptedPeer({ authMessageBody: body });
    await expectSecretConnectionError(result, 'BAD_AUTH_MESSAGE');
  });

  test('times out a silent peer and destroys the socket', async () => {
    const [ourSocket] = await trackedTcpPair();
    const started = Date.now();
    await expectSecretConnectionError(makeSecretConnection(ourSocket, newIdentity().privateKey, { handshakeTimeoutMs: 150 }), 'HANDSHAKE_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(ourSocket.destroyed).toBe(true);
  });

  test('refuses a socket that decodes text', async () => {
    const [ourSocket] = await trackedTcpPair();
    ourSocket.setEncoding('utf8');
    await expectSecretConnectionError(makeSecretConnection(ourSocket, newIdentity().privateKey), 'INVALID_ARGUMENT');
  });

  test('a peer closing mid-handshake is reported as such', async () => {
    const [ourSocket, peerSocket] = await trackedTcpPair();
    peerSocket.end(Buffer.from('220a20abcd', 'hex'));
    await expectSecretConnectionError(makeSecretConnection(ourSocket, newIdentity().privateKey), 'CLOSED_DURING_HANDSHAKE');
  });

  test('a peer closing after the key exchange is reported as such', async () => {
    const [ourSocket, peerSocket] = await trackedTcpPair();
    const ephemeral = rawPublic(generateKeyPairSync('x25519').publicKey);
    peerSocket.end(Buffer.concat([Buffer.from('220a20', 'hex'), ephemeral]));
    await expectSecretConnectionError(makeSecretConnection(ourSocket, newIdentity().privateKey), 'CLOSED_DURING_HANDSHAKE');
  });

  test.each([
    ['a public key as identity', () => generateKeyPairSync('ed25519').publicKey, {}],
    ['an X25519 private key as identity', () => generateKeyPairSync('x25519').privateKey, {}],
    ['a 31-byte seed', () => Buffer.alloc(31), {}],
    ['a 31-byte pinned key', () => Buffer.alloc(32), { expectedRemoteKey: Buffer.alloc(31) }],
    ['a malformed pinned node id', () => Buffer.alloc(32), { expectedRemoteNodeId: 'xyz' }],
    ['a zero timeout', () => Buffer.alloc(32), { handshakeTimeoutMs: 0 }],
  ])('refuses %s', async (_what, identity, opts) => {
    const [ourSocket] = await trackedTcpPair();
    await expectSecretConnectionError(makeSecretConnection(ourSocket, identity(), opts), 'INVALID_ARGUMENT');
    expect(ourSocket.destroyed).toBe(true);
  });
});

describe('node ids and privval addresses', () => {
  test('node id of the vectors.json key', () => {
    expect(nodeIdFromPublicKey(Buffer.from(VECTOR_PUBLIC_KEY, 'hex'))).toBe(VECTOR_NODE_ID);
    expect(isNodeId(VECTOR_NODE_ID)).toBe(true);
    expect(isNodeId(VECTOR_NODE_ID.slice(1))).toBe(false);
    expect(() => nodeIdFromPublicKey(Buffer.alloc(33))).toThrow(RangeError);
  });

  test.each([
    ['tcp://127.0.0.1:26659', { kind: 'tcp', host: '127.0.0.1', port: 26659 }],
    ['tcp://validator-1.example.com:1234', { kind: 'tcp', host: 'validator-1.example.com', port: 1234 }],
    ['tcp://[::1]:26659', { kind: 'tcp', host: '::1', port: 26659 }],
    [`tcp://${VECTOR_NODE_ID}@10.0.0.1:26659`, { kind: 'tcp', host: '10.0.0.1', port: 26659, expectedNodeId: VECTOR_NODE_ID }],
    [`tcp://${VECTOR_NODE_ID.toUpperCase()}@[fe80::1]:65535`, { kind: 'tcp', host: 'fe80::1', port: 65535, expectedNodeId: VECTOR_NODE_ID }],
    ['unix:///var/run/signer.sock', { kind: 'unix', path: '/var/run/signer.sock' }],
  ])('parses %s', (address, expected) => {
    expect(parsePrivvalAddress(address)).toEqual(expected);
  });

  test.each([
    ['', 'empty'],
    ['127.0.0.1:26659', 'missing-scheme'],
    ['http://127.0.0.1:26659', 'unsupported-scheme'],
    ['tcp://abc@127.0.0.1:26659', 'bad-node-id'],
    [`tcp://${VECTOR_NODE_ID}0@127.0.0.1:26659`, 'bad-node-id'],
    ['tcp://:26659', 'missing-host'],
    ['tcp://127.0.0.1', 'missing-port'],
    ['tcp://127.0.0.1:', 'missing-port'],
    ['tcp://127.0.0.1:0', 'bad-port'],
    ['tcp://127.0.0.1:65536', 'bad-port'],
    ['tcp://127.0.0.1:26a59', 'bad-port'],
    ['tcp://::1:26659', 'bad-host'],
    ['tcp://[::1:26659', 'bad-host'],
    ['tcp://[nothex]:26659', 'bad-host'],
    ['tcp://bad host:26659', 'bad-host'],
    ['tcp://-bad.example:26659', 'bad-host'],
    ['tcp://127.0.0.1:26659/path', 'unexpected-suffix'],
    [' tcp://127.0.0.1:26659', 'unexpected-suffix'],
    ['unix://', 'bad-unix-path'],
    ['unix://relative/signer.sock', 'bad-unix-path'],
  ])('refuses %j (%s)', (address, reason) => {
    let caught: unknown;
    try {
      parsePrivvalAddress(address);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PrivvalAddressError);
    expect((caught as PrivvalAddressError).reason).toBe(reason);
    expect((caught as PrivvalAddressError).message).toContain(JSON.stringify(address));
  });
});
