import { AsyncLocalStorage } from 'node:async_hooks';

/** The HTTP request being served, for code far from the handler (the outbox records it with each event). */
export interface RequestInfo {
  id: string;
  host: string;
  method: string;
  useragent: string;
  /** The caller's address, and who they are once authenticated (the audit records both with each event). */
  ip?: string;
  identity?: string;
}

export const requestContext = new AsyncLocalStorage<RequestInfo>();
