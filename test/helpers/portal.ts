import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { adminAuthHeader, type TestApp } from './app.js';

// Driving the portal over HTTP as a browser would (a cookie jar, forms with their CSRF token),
// for the portal's HTTP tests; and signing in through Chromium for its browser tests.

export interface Jar {
  /** name -> value, as a browser keeps them (Path=/portal only). */
  cookies: Map<string, string>;
}

export const cookieHeader = (b: Jar) => [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

/** Keeps the Set-Cookie headers of a response in the jar; returns them. */
export function keep(b: Jar, res: Response): string[] {
  const set = res.headers.getSetCookie();
  for (const c of set) {
    const [pair] = c.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq);
    const value = pair!.slice(eq + 1);
    if (/Max-Age=0/i.test(c) || value === '') b.cookies.delete(name);
    else b.cookies.set(name, value);
  }
  return set;
}

/** The first CSRF token of a page's forms. */
export const csrfOf = (page: string) => /name="_csrf"\s+value="([^"]+)"/.exec(page)?.[1];

/** HTML entities back to text (for asserting what a page shows). */
export const unescapeHtml = (s: string) =>
  s.replace(
    /&(amp|lt|gt|quot|#39|#96|#61);/g,
    (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#96': '`', '#61': '=' })[e]!,
  );

export function assertSecurityHeaders(res: Response) {
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const part of ["default-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) assert.ok(csp.includes(part), csp);
  assert.ok(!csp.includes('unsafe-inline'), csp);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('referrer-policy'), 'same-origin');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
}

/** A signed-in (or not) visitor of the portal of a TestApp. */
export class PortalClient {
  readonly jar: Jar = { cookies: new Map() };
  /** The session's CSRF token, once a signed-in page was read. */
  csrf = '';

  constructor(private readonly t: Pick<TestApp, 'fetch'>) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.t.fetch(path, { headers: { Cookie: cookieHeader(this.jar), ...headers }, redirect: 'manual' });
    keep(this.jar, res);
    return res;
  }

  /** GET, expecting 200: the page's text (and its CSRF token kept for post()). */
  async page(path: string): Promise<string> {
    const res = await this.get(path);
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${path}: ${res.status} ${text.slice(0, 500)}`);
    const token = csrfOf(text);
    if (token) this.csrf = token;
    return text;
  }

  /**
   * Posts a form as the browser would, with the session's CSRF token unless the form gives one; a
   * field given a list is sent once per value (checkboxes, repeated filters).
   */
  async post(path: string, form: Record<string, string | string[]> = {}, headers: Record<string, string> = {}): Promise<Response> {
    if (!this.csrf && !('_csrf' in form)) await this.page('/portal/registries');
    const body = new URLSearchParams('_csrf' in form ? {} : { _csrf: this.csrf });
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const res = await this.t.fetch(path, {
      method: 'POST',
      headers: { Cookie: cookieHeader(this.jar), 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: body.toString(),
      redirect: 'manual',
    });
    keep(this.jar, res);
    return res;
  }

  /** Opens the sign-in form and submits it; returns the sign-in's response (303 on success). */
  async signIn(username: string, password: string): Promise<Response> {
    const form = await this.get('/portal');
    const token = csrfOf(await form.text());
    assert.ok(token, 'the sign-in form carries a token');
    const res = await this.t.fetch('/portal/sign-in', {
      method: 'POST',
      headers: { Cookie: cookieHeader(this.jar), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, username, password }).toString(),
      redirect: 'manual',
    });
    keep(this.jar, res);
    if (res.status === 303) await this.page('/portal/registries');
    return res;
  }

  /** A client signed in as `username` (asserting that it worked). */
  static async signedIn(t: Pick<TestApp, 'fetch'>, username: string, password: string): Promise<PortalClient> {
    const c = new PortalClient(t);
    const res = await c.signIn(username, password);
    assert.equal(res.status, 303, `sign-in as ${username}: ${res.status}`);
    return c;
  }
}

/** A fresh Chromium context signed in through the form; bypassCSP so axe-core can be injected. */
export async function browserSignIn(
  browser: Browser,
  baseUrl: string,
  username: string,
  password: string,
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  const response = await page.goto(`${baseUrl}/portal`);
  assert.equal(response?.status(), 200);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(/\/portal\/registries/), page.press('input[name=password]', 'Enter')]);
  return { context, page };
}

/** The management API as the owner, for setting up and checking what the portal did: status and parsed JSON. */
export function ownerApi(t: Pick<TestApp, 'fetch'>) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await t.fetch(path, {
      method,
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}
