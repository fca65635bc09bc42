// The validator keys a node signs with, one per chain. Loaded once at start; the keys stay in
// KeyObjects inside ValidatorKey and never reach a log or an error message.

import { ValidatorKey } from '../keys/validator_key';

export class KeyRing {
  private readonly byChain = new Map<string, ValidatorKey>();

  constructor(keys: Iterable<[chainId: string, key: ValidatorKey]> = []) {
    for (const [chainId, key] of keys) this.byChain.set(chainId, key);
  }

  chainIds(): string[] {
    return [...this.byChain.keys()];
  }

  keyFor(chainId: string): ValidatorKey | null {
    return this.byChain.get(chainId) ?? null;
  }

  /** The chain's key if it is the given public key; null when the chain is unknown or has another key. */
  keyMatching(chainId: string, pubKey: Uint8Array): ValidatorKey | null {
    const key = this.byChain.get(chainId);
    if (!key) return null;
    return Buffer.from(key.publicKey).equals(Buffer.from(pubKey)) ? key : null;
  }
}
