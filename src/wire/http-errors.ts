/**
 * The HTTP edge of the error table, shared by every PeerVault service (directory, block
 * protocol, local API): any thrown value becomes `{kind, op, message}` with the status of its
 * kind, never a stack or a cause. Fastify's own errors that mean "bad input" become `invalid`;
 * anything unexpected becomes `internal`, and its details go to the operator's log only.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FsError, toWireError, type WireError } from '../interface/errors.js';
import { httpStatus } from './directory-api.js';

/** Fastify's errors we answer as `invalid` rather than `internal`. */
const invalidFastifyErrors: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is larger than this service accepts',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request body is empty',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content length does not match the body',
};

/**
 * The wire form of `error`. Unexpected errors are logged (with `service` and the route) to
 * standard error for the operator, and answered as a bare `internal`.
 */
export function wireErrorOf(
  error: unknown,
  op: string,
  service: string,
  request: FastifyRequest,
): WireError {
  if (error instanceof FsError) return toWireError(error, op);
  const { code, statusCode } = error as Partial<FastifyError>;
  const known = code === undefined ? undefined : invalidFastifyErrors[code];
  if (known !== undefined) return { kind: 'invalid', op, message: known };
  if (statusCode === 400) return { kind: 'invalid', op, message: 'malformed request' };
  console.error(
    `${service}: internal error in ${request.method} ${request.routeOptions.url ?? request.url}:`,
    error,
  );
  return toWireError(error, op);
}

/** Sends a wire error with its status. */
export function sendWireError(reply: FastifyReply, wire: WireError): void {
  // A route that failed after choosing a streamed body (octets, a length) must not leave those
  // headers on its JSON error, or the error itself fails to send.
  reply.removeHeader('content-length');
  void reply.status(httpStatus[wire.kind]).type('application/json; charset=utf-8').send(wire);
}

/** Installs the error and not-found handlers on `app`. */
export function installErrorHandlers(app: FastifyInstance, service: string): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    sendWireError(
      reply,
      wireErrorOf(error, request.routeOptions.url ?? 'request', service, request),
    );
  });
  app.setNotFoundHandler((request, reply) => {
    sendWireError(reply, {
      kind: 'not-exist',
      op: 'route',
      message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
    });
  });
}
