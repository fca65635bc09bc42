// The HTTP endpoint (/metrics, /healthz, /readyz) and the gRPC health service, each on a server of
// its own in this process, with health reports the test flips.

import * as grpc from '@grpc/grpc-js';
import { CallAuthorizer, NO_REVOCATIONS } from '../../src/transport/authorization';
import http from 'node:http';
import { createClusterCa, issueClientCertificate, issueNodeCertificate } from '../../src/certs/cluster_certs';
import { silentLogger } from '../../src/log/logger';
import { HealthReport } from '../../src/metrics/health';
import { NodeMetrics } from '../../src/metrics/node_metrics';
import { addGrpcHealthService, checkGrpcHealth, SIGNER_SERVICE_NAME } from '../../src/node/grpc_health_service';
import { HttpListenError, NodeHttpServer, startNodeHttpServer } from '../../src/node/health_server';
import {
  bindSharedServer,
  clusterChannelCredentials,
  createSharedServer,
  serverCredentials,
  stopSharedServer,
} from '../../src/transport/grpc_server';
import { loadProtoFile } from '../../src/transport/proto_loader';

function report(live: boolean, ready: boolean): HealthReport {
  const node = { name: 'node' as const, ok: live, detail: live ? 'running' : 'stopped after an error: EIO' };
  const quorum = { name: 'quorum' as const, ok: ready, detail: ready ? 'following leader node1 in term 2' : 'no leader known in term 2' };
  return { live, ready: live && ready, liveChecks: [node], readyChecks: [node, quorum] };
}

function get(address: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${address}${path}`, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the metrics and health HTTP endpoint', () => {
  let server: NodeHttpServer;
  let current = report(true, true);
  const metrics = new NodeMetrics({ nodeId: 'node0' });

  beforeAll(async () => {
    metrics.observeSign('c', { kind: 'signed', signature: new Uint8Array(64) }, 0.001);
    server = await startNodeHttpServer({
      listen: '127.0.0.1:0',
      metrics: () => metrics.metrics(),
      metricsContentType: metrics.contentType,
      health: () => current,
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await server.close();
  });

  test('/metrics serves the node registry in the Prometheus text format', async () => {
    const r = await get(server.address, '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toMatch(/^raftsigner_sign_requests_total\{chain="c",result="signed"\} 1$/m);
  });

  test('/healthz and /readyz answer 200 or 503 with the checks in JSON', async () => {
    current = report(true, true);
    expect((await get(server.address, '/healthz')).status).toBe(200);
    const ready = await get(server.address, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ok', checks: current.readyChecks });

    current = report(true, false);
    expect((await get(server.address, '/healthz')).status).toBe(200);
    const notReady = await get(server.address, '/readyz');
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.body)).toMatchObject({ status: 'fail', checks: [{ name: 'node', ok: true }, { name: 'quorum', ok: false, detail: 'no leader known in term 2' }] });

    current = report(false, false);
    const dead = await get(server.address, '/healthz');
    expect(dead.status).toBe(503);
    expect(dead.type).toBe('application/json');
    expect(JSON.parse(dead.body).checks[0].detail).toBe('stopped after an error: EIO');
    expect((await get(server.address, '/readyz', 'HEAD')).status).toBe(503);
  });

  test('anything else is 404 or 405', async () => {
    expect((await get(server.address, '/')).status).toBe(404);
    expect((await get(server.address, '/metrics', 'POST')).status).toBe(405);
  });

  test('an address in use is refused with a message naming it; close is idempotent', async () => {
    await expect(
      startNodeHttpServer({ listen: server.address, metrics: async () => '', metricsContentType: 'text/plain', health: () => current, logger: silentLogger() }),
    ).rejects.toThrow(HttpListenError);
    const other = await startNodeHttpServer({ listen: '127.0.0.1:0', metrics: async () => '', metricsContentType: 'text/plain', health: () => current, logger: silentLogger() });
    await Promise.all([other.close(), other.close()]);
    await expect(get(other.address, '/healthz')).rejects.toThrow();
  });
});

describe('the gRPC health service', () => {
  let server: grpc.Server;
  let address: string;
  let credentials: grpc.ChannelCredentials;
  let service: ReturnType<typeof addGrpcHealthService>;
  let current = report(true, true);

  beforeAll(async () => {
    const ca = await createClusterCa();
    const nodeCert = await issueNodeCertificate(ca, 'node0', ['127.0.0.1']);
    const client = await issueClientCertificate(ca, 'admin');
    const authorizer = new CallAuthorizer({ nodeId: 'node0', membership: () => ({ voters: ['node0'], learners: [] }), revoked: NO_REVOCATIONS, logger: silentLogger() });
    server = createSharedServer({ authorizer });
    service = addGrpcHealthService(server, () => current, { watchIntervalMs: 20 });
    const port = await bindSharedServer(server, '127.0.0.1:0', serverCredentials({ ca: ca.certPem, cert: nodeCert.certPem, key: nodeCert.keyPem }));
    address = `127.0.0.1:${port}`;
    credentials = clusterChannelCredentials({ ca: ca.certPem, cert: client.certPem, key: client.keyPem }, 'node0', 'client');
  });

  afterAll(async () => {
    service.close();
    await stopSharedServer(server, 100);
  });

  test('Check: "" follows liveness, the Signer service follows readiness, others are NOT_FOUND', async () => {
    current = report(true, true);
    expect(await checkGrpcHealth(address, credentials, 'node0', '', 2000)).toBe('SERVING');
    expect(await checkGrpcHealth(address, credentials, 'node0', SIGNER_SERVICE_NAME, 2000)).toBe('SERVING');
    current = report(true, false);
    expect(await checkGrpcHealth(address, credentials, 'node0', '', 2000)).toBe('SERVING');
    expect(await checkGrpcHealth(address, credentials, 'node0', SIGNER_SERVICE_NAME, 2000)).toBe('NOT_SERVING');
    current = report(false, false);
    expect(await checkGrpcHealth(address, credentials, 'node0', '', 2000)).toBe('NOT_SERVING');
    await expect(checkGrpcHealth(address, credentials, 'node0', 'no.such.Service', 2000)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  test('Watch sends the status at once and then each change, until cancelled', async () => {
    current = report(true, true);
    const Health = ((loadProtoFile('health.proto').grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const Client = Health.Health as grpc.ServiceClientConstructor;
    const client = new Client(address, credentials, { 'grpc.ssl_target_name_override': 'node0' });
    const call = (client as unknown as { Watch(req: object): grpc.ClientReadableStream<{ status: number }> }).Watch({ service: SIGNER_SERVICE_NAME });
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      call.on('data', (m: { status: number }) => {
        seen.push(m.status);
        if (seen.length === 1) current = report(true, false);
        if (seen.length === 2) resolve();
      });
    });
    call.on('error', () => undefined);
    call.cancel();
    client.close();
    expect(seen).toEqual([1, 2]);
  });
});
