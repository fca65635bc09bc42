// The fault proxy and the network of them, on plain TCP: bytes pass through in order; a held
// direction keeps the connection open and delivers what it held once released; delay keeps the
// stream in order; a cut resets the connections; and a one-way fault between two nodes holds
// both proxies that carry that direction.

import * as net from 'node:net';
import { FaultNetwork } from '../../src/chaos/fault_network';
import { FaultProxy } from '../../src/chaos/fault_proxy';

/** A server that upper-cases what it receives and sends it back. */
async function shoutServer(): Promise<{ server: net.Server; address: string }> {
  const server = net.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(d.toString('utf8').toUpperCase()));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

function connect(address: string): Promise<net.Socket> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: Number(port) }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Collects what a socket receives. */
function collector(s: net.Socket): { text: () => string; closed: () => boolean } {
  let text = '';
  let closed = false;
  s.on('data', (d: Buffer) => (text += d.toString('utf8')));
  s.on('close', () => (closed = true));
  s.on('error', () => undefined);
  return { text: () => text, closed: () => closed };
}

async function until(what: string, probe: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('FaultProxy', () => {
  let upstream: { server: net.Server; address: string };
  let proxy: FaultProxy;
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    upstream = await shoutServer();
    proxy = await FaultProxy.listen('a→b');
    proxy.setTarget(upstream.address);
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await proxy.close();
    await new Promise<void>((r) => upstream.server.close(() => r()));
  });

  async function client(): Promise<{ socket: net.Socket; text: () => string; closed: () => boolean }> {
    const socket = await connect(proxy.address);
    sockets.push(socket);
    return { socket, ...collector(socket) };
  }

  test('forwards both ways, in order', async () => {
    const c = await client();
    for (let i = 0; i < 50; i++) c.socket.write(`m${i};`);
    const expected = Array.from({ length: 50 }, (_, i) => `M${i};`).join('');
    await until('the echo', () => c.text() === expected);
    expect(proxy.stats.connections).toBe(1);
  });

  test('a held direction delivers nothing until released, then everything, in order', async () => {
    const c = await client();
    proxy.setFault({ holdForward: true });
    c.socket.write('one;');
    c.socket.write('two;');
    await settle();
    expect(c.text()).toBe('');
    expect(c.closed()).toBe(false);
    proxy.setFault({ holdForward: false });
    await until('the held bytes', () => c.text() === 'ONE;TWO;');
  });

  test('holding the backward direction only stops the answers', async () => {
    const c = await client();
    proxy.setFault({ holdBackward: true });
    c.socket.write('ping;');
    await settle();
    expect(c.text()).toBe('');
    expect(proxy.stats.bytesForward).toBe(5);
    proxy.setFault({ holdBackward: false });
    await until('the answer', () => c.text() === 'PING;');
  });

  test('delay with jitter keeps the stream in order', async () => {
    proxy.setFault({ delayMs: 20, jitterMs: 40 });
    const c = await client();
    for (let i = 0; i < 30; i++) c.socket.write(`${i},`);
    const expected = Array.from({ length: 30 }, (_, i) => `${i},`).join('');
    await until('the delayed echo', () => c.text() === expected);
  });

  test('cut resets open connections; new ones go through', async () => {
    const c = await client();
    c.socket.write('x');
    await until('the echo', () => c.text() === 'X');
    proxy.cut();
    await until('the close', () => c.closed());
    expect(proxy.stats.cuts).toBe(1);
    const d = await client();
    d.socket.write('y');
    await until('the echo after the cut', () => d.text() === 'Y');
  });

  test('closes a connection it cannot forward', async () => {
    await new Promise<void>((r) => upstream.server.close(() => r()));
    const c = await client();
    await until('the close', () => c.closed());
    upstream = await shoutServer();
  });
});

describe('FaultNetwork', () => {
  test('routes every directed link through its own proxy; a one-way block holds both proxies carrying it', async () => {
    const a = await shoutServer();
    const b = await shoutServer();
    const network = await FaultNetwork.create(['a', 'b'], 1);
    try {
      network.setTargets((id) => (id === 'a' ? a.address : b.address));
      expect(network.route('a', 'b')).not.toBe(network.route('b', 'a'));

      // a dials b; b dials a.
      const ab = await connect(network.route('a', 'b'));
      const ba = await connect(network.route('b', 'a'));
      const fromB = collector(ab);
      const fromA = collector(ba);

      network.setBlocked('a', 'b', true);
      expect(network.isBlocked('a', 'b')).toBe(true);
      expect(network.isBlocked('b', 'a')).toBe(false);
      // a's request to b is held; b's request to a passes, but a's answer to it is held too.
      ab.write('to-b;');
      ba.write('to-a;');
      await settle();
      expect(fromB.text()).toBe('');
      expect(fromA.text()).toBe('');

      network.heal();
      await until('both answers', () => fromB.text() === 'TO-B;' && fromA.text() === 'TO-A;');

      network.partition([['a'], ['b']]);
      expect(network.isBlocked('a', 'b') && network.isBlocked('b', 'a')).toBe(true);
      network.heal({ cutHeld: true });
      await until('the reset connections', () => fromA.closed() && fromB.closed());
      expect(network.faults().every((f) => !f.fault.holdForward && !f.fault.holdBackward)).toBe(true);
    } finally {
      await network.close();
      await new Promise<void>((r) => a.server.close(() => r()));
      await new Promise<void>((r) => b.server.close(() => r()));
    }
  });
});
