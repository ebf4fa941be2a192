// Who caused a change: the audit and every webhook payload record it with each event.

/** The HTTP request behind a change (Docker notifications' `request`), or a system process's stand-in. */
export interface ActorRequest {
  id: string;
  host: string;
  method: string;
  useragent: string;
}

export interface Actor {
  request: ActorRequest;
  /** Who, once authenticated: a user, service principal, token, or a system process's name. */
  identity?: string;
  /** The caller's address. */
  ip?: string;
  /** The private endpoint listener a request arrived on (its listen key); none = the public login server. */
  endpoint?: string;
}
