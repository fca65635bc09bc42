// The Signer gRPC service (proto/signer.proto) on a node's shared server. The server requires a
// certificate of the cluster CA (mutual TLS) and checks every call against the authorization table
// before it reaches a handler here (authorization.ts): Sign, Decide and Forward accept only a
// voter's node certificate. A Forward stream is checked again with each request, so a voter
// removed while its stream is open is refused from then on.

import * as grpc from '@grpc/grpc-js';
import type { SignOutcome, SignRequest } from '../cometbft/sign_types';
import type { Logger } from '../log/logger';
import type { LeaderAnswer } from '../replica/leader_answer';
import { CallAuthorizer, RPC } from './authorization';
import { assertAuthorizedServer } from './grpc_server';
import { fromWireRequest, MAX_TIMEOUT_MS, signerService, toWireDecide, toWireOutcome, WireDecideResponse, WireForwardRequest, WireForwardResponse, WireSignRequest, WireSignResponse } from './signer_wire';

/** What the service asks of the node's sign path (SignCoordinator in src/node/). */
export interface SignerBackend {
  sign(request: SignRequest, timeoutMs: number): Promise<SignOutcome>;
  decideAsLeader(request: SignRequest, timeoutMs: number): Promise<LeaderAnswer>;
}

export interface SignerServiceOptions {
  coordinator: SignerBackend;
  /** The server's authorizer: a Forward stream is checked again with each request. */
  authorizer: CallAuthorizer;
  logger: Logger;
}

/** Adds the Signer service to the node's shared server. */
export function addSignerService(server: grpc.Server, options: SignerServiceOptions): void {
  const { coordinator } = options;
  assertAuthorizedServer(server, 'Signer');
  server.addService(signerService().service, {
    Sign: (call: grpc.ServerUnaryCall<WireSignRequest, WireSignResponse>, callback: grpc.sendUnaryData<WireSignResponse>) => {
      const request = fromWireRequest(call.request);
      if (typeof request === 'string') {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: request });
        return;
      }
      coordinator.sign(request, call.request.timeoutMs || MAX_TIMEOUT_MS).then(
        (o) => callback(null, toWireOutcome(o)),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: (e as Error).message }),
      );
    },
    Decide: (call: grpc.ServerUnaryCall<WireSignRequest, WireDecideResponse>, callback: grpc.sendUnaryData<WireDecideResponse>) => {
      const request = fromWireRequest(call.request);
      if (typeof request === 'string') {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: request });
        return;
      }
      coordinator.decideAsLeader(request, call.request.timeoutMs || MAX_TIMEOUT_MS).then(
        (a) => callback(null, toWireDecide(a)),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: (e as Error).message }),
      );
    },
    Forward: (call: grpc.ServerDuplexStream<WireForwardRequest, WireForwardResponse>) => serveForwardStream(call, options),
  });
}

/**
 * The leader's side of a Forward stream: the server authorized the caller when the stream opened,
 * and each request is authorized again (cheap: the certificate's identity is cached), so a caller
 * removed or demoted meanwhile is cut off; each request is decided on its own and answered as soon
 * as it is, so one slow request holds up no other.
 */
function serveForwardStream(call: grpc.ServerDuplexStream<WireForwardRequest, WireForwardResponse>, options: SignerServiceOptions): void {
  const { coordinator, logger, authorizer } = options;
  let open = true;
  const close = (): void => {
    open = false;
  };
  call.on('cancelled', close);
  call.on('error', close);
  call.on('end', () => {
    close();
    call.end();
  });
  const answer = (res: WireForwardResponse): void => {
    if (open && !call.destroyed && call.writable) call.write(res);
  };
  call.on('data', (msg: WireForwardRequest) => {
    const id = msg.id;
    if (!open) return;
    const again = authorizer.check(RPC.SignerForward, call);
    if (!again.ok) {
      open = false;
      call.emit('error', authorizer.refusalStatus(RPC.SignerForward, again));
      return;
    }
    const wire = msg.request;
    const request = wire ? fromWireRequest(wire) : 'the request is missing';
    if (typeof request === 'string') {
      answer({ id, answer: null, invalid: request });
      return;
    }
    coordinator.decideAsLeader(request, (wire as WireSignRequest).timeoutMs || MAX_TIMEOUT_MS).then(
      (a) => answer({ id, answer: toWireDecide(a), invalid: '' }),
      (e: unknown) => {
        logger.error('deciding a forwarded request failed', { error: (e as Error).message });
        answer({ id, answer: null, invalid: `internal error: ${(e as Error).message}` });
      },
    );
  });
}
