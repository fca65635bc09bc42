// The standard gRPC health service (grpc.health.v1.Health, proto/health.proto) on the node's
// shared gRPC server, for gRPC-aware load balancers and probes:
//
//   service ""                             SERVING when the node is live (as HTTP /healthz)
//   service "raftsigner.signer.v1.Signer"  SERVING when it can sign now (as HTTP /readyz)
//   any other service                      NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch)
//
// Watch follows the standard: the current status at once, then each change, found by looking at
// the node once per `watchIntervalMs` (the node has no change events to subscribe to, and a probe
// needs no more precision than that).
//
// Like every service on the node's port, calls are authorized first (src/transport/authorization.ts):
// the admin client certificate and members' node certificates may ask.

import * as grpc from '@grpc/grpc-js';
import type { HealthReport } from '../metrics/health';
import { assertAuthorizedServer } from '../transport/grpc_server';
import { loadProtoFile } from '../transport/proto_loader';

export const SIGNER_SERVICE_NAME = 'raftsigner.signer.v1.Signer';

/** grpc.health.v1.HealthCheckResponse.ServingStatus, by name. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
export type ServingStatusName = keyof typeof ServingStatus;

export interface GrpcHealthService {
  /** Ends every Watch stream and its timer (the server's own shutdown cancels calls, not our timers). */
  close(): void;
}

function healthService(): grpc.ServiceClientConstructor {
  const tree = loadProtoFile('health.proto');
  const pkg = ((tree.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return pkg.Health as grpc.ServiceClientConstructor;
}

/** The status of `service`, or null when the service name is not one this node reports on. */
export function servingStatusOf(report: HealthReport, service: string): ServingStatusName | null {
  if (service === '') return report.live ? 'SERVING' : 'NOT_SERVING';
  if (service === SIGNER_SERVICE_NAME) return report.ready ? 'SERVING' : 'NOT_SERVING';
  return null;
}

export function addGrpcHealthService(
  server: grpc.Server,
  health: () => HealthReport,
  options: { watchIntervalMs?: number } = {},
): GrpcHealthService {
  assertAuthorizedServer(server, 'health');
  const interval = options.watchIntervalMs ?? 1000;
  const watches = new Set<() => void>();
  server.addService(healthService().service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const status = servingStatusOf(health(), call.request.service);
      if (status === null) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}: ask for "" or "${SIGNER_SERVICE_NAME}"` });
        return;
      }
      callback(null, { status: ServingStatus[status] });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      let last: number | null = null;
      const send = (): void => {
        const status = servingStatusOf(health(), call.request.service);
        const value = ServingStatus[status ?? 'SERVICE_UNKNOWN'];
        if (value === last) return;
        last = value;
        call.write({ status: value });
      };
      const timer = setInterval(send, interval);
      timer.unref();
      const end = (): void => {
        if (!watches.delete(end)) return;
        clearInterval(timer);
        if (!call.destroyed) call.end();
      };
      watches.add(end);
      call.on('cancelled', end);
      call.on('error', end);
      send();
    },
  });
  return {
    close(): void {
      for (const end of [...watches]) end();
    },
  };
}

/** One Check call (tools and tests); resolves to the status name, rejects on any gRPC error. */
export function checkGrpcHealth(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  service: string,
  deadlineMs: number,
): Promise<ServingStatusName> {
  const Client = healthService();
  const client = new Client(address, credentials, { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName });
  type Check = (req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { status: number }) => void) => void;
  const check = (client as unknown as { Check: Check }).Check.bind(client);
  return new Promise((resolve, reject) => {
    check({ service }, { deadline: Date.now() + deadlineMs }, (err, res) => {
      client.close();
      if (err) {
        reject(err);
        return;
      }
      const name = (Object.keys(ServingStatus) as ServingStatusName[]).find((k) => ServingStatus[k] === res.status);
      resolve(name ?? 'UNKNOWN');
    });
  });
}
