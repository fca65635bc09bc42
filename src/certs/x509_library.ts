// @peculiar/x509 resolves its algorithm plugins through tsyringe, which needs the Reflect metadata
// polyfill loaded before the library itself; and it needs a WebCrypto provider, which we take from
// Node instead of a polyfill. Every module that uses the library imports it from here so that this
// order is guaranteed exactly once.

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's webcrypto implements the same interface as the browser's `Crypto` the library is typed
// against; the two declarations only differ in DOM-only members the library never touches.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509, webcrypto };
