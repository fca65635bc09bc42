// The node's plain-HTTP endpoint on `metrics.listen`: Prometheus metrics and the health checks for
// load balancers and Kubernetes probes, which speak HTTP without client certificates:
//
//   GET /metrics  the node's own registry (src/metrics/node_metrics.ts)
//   GET /healthz  200 when live, 503 otherwise: restart the node (src/metrics/health.ts)
//   GET /readyz   200 when ready to sign, 503 otherwise: do not count on it now
//
// Health answers are JSON ({"status": "ok"|"fail", "checks": [{name, ok, detail}]}) so a person
// reading the probe sees why. Nothing here changes state and nothing secret is served, which is
// why it needs no TLS; bind it to an address only Prometheus and the probes reach.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../config/node_config';
import type { Logger } from '../log/logger';
import type { HealthCheck, HealthReport } from '../metrics/health';
import { RaftSignerError } from '../util/errors';

export interface NodeHttpServerOptions {
  /** host:port; port 0 picks a free one (tests). */
  listen: string;
  metrics(): Promise<string>;
  metricsContentType: string;
  health(): HealthReport;
  logger: Logger;
}

export interface NodeHttpServer {
  /** The bound host:port (with the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Stops listening and drops open (keep-alive) connections. Idempotent. */
  close(): Promise<void>;
}

export class HttpListenError extends RaftSignerError<{ code: 'HTTP_LISTEN' }> {
  constructor(message: string, options?: { cause?: unknown }) {
    super({ code: 'HTTP_LISTEN' }, message, options);
    this.name = 'HttpListenError';
  }
}

export async function startNodeHttpServer(options: NodeHttpServerOptions): Promise<NodeHttpServer> {
  // parseHostPort refuses port 0, which config.yaml must not contain but tests ask for.
  const anyPort = /:0$/.test(options.listen);
  const hostPort = parseHostPort(anyPort ? options.listen.replace(/:0$/, ':1') : options.listen);
  if (!hostPort) throw new HttpListenError(`metrics.listen "${options.listen}" is not host:port`);
  if (anyPort) hostPort.port = 0;
  const server = http.createServer((req, res) => {
    handle(req, res, options).catch((e: unknown) => {
      options.logger.error('metrics endpoint failed', { path: req.url, error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  // Slow or idle clients must not pin sockets forever: a scrape takes milliseconds.
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(new HttpListenError(`cannot listen on metrics.listen ${options.listen}: ${e.message}`, { cause: e }));
    server.once('error', onError);
    server.listen({ host: hostPort.host, port: hostPort.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (e: Error) => options.logger.warn('metrics endpoint error', { error: e.message }));
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  let closing: Promise<void> | null = null;
  return {
    address: `${host}:${bound.port}`,
    port: bound.port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: NodeHttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('only GET and HEAD\n');
    return;
  }
  switch (path) {
    case '/metrics': {
      const body = await options.metrics();
      res.writeHead(200, { 'content-type': options.metricsContentType });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/healthz': {
      const report = options.health();
      sendHealth(req, res, report.live, report.liveChecks);
      return;
    }
    case '/readyz': {
      const report = options.health();
      sendHealth(req, res, report.ready, report.readyChecks);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: try /metrics, /healthz or /readyz\n');
  }
}

function sendHealth(req: http.IncomingMessage, res: http.ServerResponse, ok: boolean, checks: HealthCheck[]): void {
  const body = JSON.stringify({ status: ok ? 'ok' : 'fail', checks }) + '\n';
  // Probes must never see a cached answer.
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
