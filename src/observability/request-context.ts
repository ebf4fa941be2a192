import { AsyncLocalStorage } from 'node:async_hooks';

/** The HTTP request being served, for code far from the handler (the outbox records it with each event). */
export interface RequestInfo {
  id: string;
  host: string;
  method: string;
  useragent: string;
}

export const requestContext = new AsyncLocalStorage<RequestInfo>();
