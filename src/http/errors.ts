import { isTransient, RegistryError } from '../domain/errors.js';
import type { Ctx } from './context.js';

// The one place where errors become responses. RegistryError carries its code, status, message
// and headers; anything else is a bug or an infrastructure failure: logged with the request id,
// answered 500 with that id and no internals. A dependency that is down for a while (storage
// unreachable, timing out or failing after the driver's retries) is answered 503 UNAVAILABLE with
// Retry-After instead: clients retry it, and a retried chunk or PUT continues the same upload.

/** Seconds a client is asked to wait before retrying after a transient failure. */
export const RETRY_AFTER_SECONDS = 2;

export function sendError(ctx: Ctx, err: unknown): void {
  const { res } = ctx;
  if (res.headersSent) {
    // Mid-stream failure (e.g. storage read error): nothing valid can follow, cut the connection.
    ctx.log.error({ err, requestId: ctx.requestId }, 'failure after response started');
    res.destroy();
    return;
  }
  let e: RegistryError;
  const unavailable = isTransient(err);
  if (err instanceof RegistryError) {
    e = err;
  } else if (isClientAbort(err)) {
    // The client went away mid-request; there is nobody to answer.
    ctx.log.info({ requestId: ctx.requestId, err: (err as Error).message }, 'client aborted request');
    res.destroy();
    return;
  } else if (unavailable) {
    ctx.log.warn({ err, requestId: ctx.requestId }, `${unavailable} unavailable`);
    e = new RegistryError('UNAVAILABLE', `the registry's ${unavailable} is temporarily unavailable; retry in a moment`, {
      headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
    });
  } else {
    ctx.log.error({ err, requestId: ctx.requestId }, 'internal error');
    e = new RegistryError('INTERNAL_ERROR', `internal error; quote request id ${ctx.requestId} to the operator`);
  }
  const body = JSON.stringify({
    errors: [{ code: e.code, message: e.message, ...(e.detail !== undefined ? { detail: e.detail } : {}) }],
  });
  res.statusCode = e.status;
  for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

function isClientAbort(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'EPIPE' || (err as Error)?.message === 'aborted';
}
