// The floor: what the machine allows for one signature, measured in the same run as everything
// else so that the ratios in the report compare like with like. A follower-attached signature
// needs at least a forward round trip to the leader, a replication round trip to a quorum, one
// fsync and one Ed25519 signature; the report divides each latency by
//   floor = gRPC round trip (forward) + gRPC round trip (replicate) + fsync + sign.
// Each part is measured on its own: one Ed25519 signature (node:crypto), one fsynced LevelDB put
// (the same `level` package and options the store uses), one unary gRPC call on loopback over the
// cluster's mutual TLS.

import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { ValidatorKey } from '../keys/validator_key';
import { clusterChannelCredentials, serverCredentials, TlsPem } from '../transport/grpc_server';
import { LatencySummary, summarize } from './stats';

export interface FloorMeasurement {
  ed25519Sign: LatencySummary;
  fsyncedPut: LatencySummary;
  grpcRoundTrip: LatencySummary;
  /** forward RTT + replicate RTT + fsync + sign, from the medians (ms). */
  floorMs: number;
}

export interface FloorOptions {
  /** Node TLS material of a testnet node (its id is `nodeId`): the gRPC call uses mutual TLS. */
  tls: TlsPem;
  nodeId: string;
  /** Directory for the scratch database (on the disk the nodes use). */
  scratchDir: string;
  signSamples: number;
  fsyncSamples: number;
  rttSamples: number;
}

function nowMs(): number {
  return performance.now();
}

/** A request as large as a forwarded sign request (chain id, key, HRS, ~110 bytes of sign bytes). */
const PAYLOAD = Buffer.alloc(180, 7);

export function measureSign(samples: number): LatencySummary {
  const key = ValidatorKey.generate();
  const message = new Uint8Array(PAYLOAD);
  for (let i = 0; i < 200; i++) key.sign(message); // warm up
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    message[0] = i & 0xff;
    const t = nowMs();
    key.sign(message);
    out.push(nowMs() - t);
  }
  return summarize(out);
}

export async function measureFsyncedPut(dir: string, samples: number): Promise<LatencySummary> {
  const location = fs.mkdtempSync(path.join(dir, 'floor-level-'));
  const db = new Level<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const value = Buffer.alloc(300, 1);
    const out: number[] = [];
    for (let i = 0; i < samples + 20; i++) {
      const key = Buffer.alloc(8);
      key.writeBigUInt64BE(BigInt(i));
      const t = nowMs();
      await db.put(key, value, { sync: true });
      if (i >= 20) out.push(nowMs() - t);
    }
    return summarize(out);
  } finally {
    await db.close();
    fs.rmSync(location, { recursive: true, force: true });
  }
}

const ECHO_PATH = '/raftsigner.bench.v1.Floor/Echo';
const passBuffer = (b: Buffer): Buffer => b;

export async function measureGrpcRoundTrip(tls: TlsPem, nodeId: string, samples: number): Promise<LatencySummary> {
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    Echo: {
      path: ECHO_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: passBuffer,
      requestDeserialize: passBuffer,
      responseSerialize: passBuffer,
      responseDeserialize: passBuffer,
    },
  };
  server.addService(definition, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request.subarray(0, 40)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, clusterChannelCredentials(tls, nodeId, 'node'), {
    'grpc.ssl_target_name_override': nodeId,
    'grpc.default_authority': nodeId,
  });
  const call = (): Promise<void> =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest<Buffer, Buffer>(ECHO_PATH, passBuffer, passBuffer, PAYLOAD, (err) => (err ? reject(err) : resolve())),
    );
  try {
    for (let i = 0; i < 200; i++) await call(); // connection, TLS handshake, JIT
    const out: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t = nowMs();
      await call();
      out.push(nowMs() - t);
    }
    return summarize(out);
  } finally {
    client.close();
    server.forceShutdown();
  }
}

export async function measureFloor(options: FloorOptions): Promise<FloorMeasurement> {
  const ed25519Sign = measureSign(options.signSamples);
  const fsyncedPut = await measureFsyncedPut(options.scratchDir ?? os.tmpdir(), options.fsyncSamples);
  const grpcRoundTrip = await measureGrpcRoundTrip(options.tls, options.nodeId, options.rttSamples);
  const floorMs = 2 * grpcRoundTrip.p50 + fsyncedPut.p50 + ed25519Sign.p50;
  return { ed25519Sign, fsyncedPut, grpcRoundTrip, floorMs };
}
