// A deliberately unsafe signer, for proving that the chaos harness finds double signs: every
// "node" dials its validator-node stand-ins with the product's own privval dialer, exactly as a
// raft-signer node does, but signs locally with its own in-memory FilePV record and no log.
// Each node on its own is FilePV-correct; together they are not: when two validator nodes ask
// different nodes for different votes at one height/round/step (the HeightDriver's seeded
// disagreement), both get a signature. A killed node also forgets its record (nothing durable),
// as a signer whose state file was lost would.
//
// Lives in test/ only: it must never be something a user can run.

import { silentLogger } from '../../src/log/logger';
import type { ValidatorKey } from '../../src/keys/validator_key';
import { PrivvalDialers, startPrivvalDialers } from '../../src/privval/privval_dialer';
import { SignerIdentity } from '../../src/privval/signer_identity';
import { decideFilePv, SlashingRecord } from '../../src/cometbft/filepv_rules';
import type { SignOutcome, SignPath, SignRequest } from '../../src/cometbft/sign_types';
import type { ChaosClusterPlan, SignerCapability, SignerCluster, SignerLauncher, SignerNodeView } from '../../src/chaos/signer_launcher';

/** One node's local, unreplicated FilePV: right for one signer, wrong for a cluster. */
class LocalFilePvSignPath implements SignPath {
  private readonly records = new Map<string, SlashingRecord>();

  constructor(private readonly keys: ReadonlyMap<string, ValidatorKey>) {}

  publicKeyFor(chainId: string): Uint8Array | null {
    return this.keys.get(chainId)?.publicKey ?? null;
  }

  signExtension(chainId: string, extensionSignBytes: Uint8Array): Uint8Array {
    const key = this.keys.get(chainId);
    if (key === undefined) throw new Error(`no key for ${chainId}`);
    return key.sign(extensionSignBytes);
  }

  async sign(request: SignRequest): Promise<SignOutcome> {
    const key = this.keys.get(request.chainId);
    if (key === undefined) return { kind: 'refused', reason: 'unknown-chain', message: `no chain ${request.chainId}` };
    const decision = decideFilePv(this.records.get(request.chainId) ?? null, request);
    switch (decision.kind) {
      case 'sign': {
        const signature = key.sign(request.signBytes);
        this.records.set(request.chainId, { height: request.height, round: request.round, step: request.step, signBytes: request.signBytes, signature });
        return { kind: 'signed', signature };
      }
      case 'same':
        return { kind: 'signed', signature: decision.signature };
      case 'same-but-timestamp':
        return { kind: 'signed-with-stored-timestamp', signature: decision.signature, timestamp: decision.timestamp };
      case 'refuse':
        return { kind: 'refused', reason: decision.reason, message: decision.message };
    }
  }
}

class UnsafeCluster implements SignerCluster {
  readonly capabilities: ReadonlySet<SignerCapability> = new Set<SignerCapability>();
  private readonly running = new Map<string, PrivvalDialers>();

  constructor(private readonly plan: ChaosClusterPlan) {}

  get ids(): readonly string[] {
    return this.plan.ids;
  }

  listenAddress(): string | null {
    return null;
  }

  async start(id: string): Promise<void> {
    if (this.running.has(id)) throw new Error(`${id} is already running`);
    const index = this.plan.ids.indexOf(id);
    const keys = new Map(this.plan.chains.map((c) => [c.chainId, c.key]));
    this.running.set(
      id,
      startPrivvalDialers({
        targets: this.plan.chains.map((c) => ({ chainId: c.chainId, address: c.validatorAddrs[index] as string })),
        signPath: new LocalFilePvSignPath(keys),
        identity: SignerIdentity.generate(),
        logger: silentLogger(),
        backoff: { initialMs: 20, maxMs: 200 },
      }),
    );
  }

  async kill(id: string): Promise<void> {
    await this.running.get(id)?.close();
    this.running.delete(id);
  }

  terminate(id: string): Promise<void> {
    return this.kill(id);
  }

  async pause(): Promise<void> {
    throw new Error('the unsafe signer runs in-process: it cannot be paused');
  }

  async resume(): Promise<void> {
    // Nothing is ever paused.
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  dataDir(): string {
    throw new Error('the unsafe signer keeps nothing on disk');
  }

  async status(): Promise<SignerNodeView[]> {
    return this.plan.ids.map((id) => ({ id, running: this.running.has(id), role: null, term: null, commitIndex: 0, appliedIndex: 0 }));
  }

  logFile(): string | null {
    return null;
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id)));
  }

  killAllSync(): void {
    // In-process: nothing outlives the test process.
  }
}

export class UnsafeLocalSignerLauncher implements SignerLauncher {
  readonly name = 'unsafe local signer (test only: no log, every node signs on its own)';

  async launch(plan: ChaosClusterPlan): Promise<SignerCluster> {
    return new UnsafeCluster(plan);
  }
}
