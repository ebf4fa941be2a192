import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { RegistryError } from './errors.js';

// Network rules of a registry (ACR's networkRuleSet, publicNetworkAccess): parsing and checking of
// addresses and CIDR ranges, pure so the hot path and the tests share it. IPv4 and IPv6 both.

/** ACR's limit on IP rules per registry. */
export const MAX_IP_RULES = 200;

export type DefaultAction = 'Allow' | 'Deny';
export type PublicNetworkAccess = 'Enabled' | 'Disabled';
export type NetworkBypass = 'AzureServices' | 'None';

/** What a registry row holds about its network (the columns of migration 25). */
export interface NetworkSettings {
  public_network_access: string;
  network_default_action: string;
  /** JSON array of canonical ranges ("10.0.0.0/8", "1.2.3.4", "2001:db8::/32"). */
  network_ip_rules: string;
}

export interface Cidr {
  family: 'ipv4' | 'ipv6';
  /** Canonical network address. */
  address: string;
  prefix: number;
  /** The canonical text: the bare address for a single host, else address/prefix. */
  value: string;
}

const invalid = (msg: string) => new RegistryError('REQUEST_INVALID', msg);

/** A client address as rules see it: IPv4-mapped IPv6 (::ffff:1.2.3.4) is the IPv4 address. */
export function normalizeAddress(raw: string): string {
  const a = raw.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped) return mapped[1]!;
  return a;
}

function v4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** 16 bytes of an IPv6 address already accepted by isIPv6 (no zone). */
function v6Bytes(a: string): number[] {
  let text = a;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const b = v4Bytes(text.slice(lastColon + 1));
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const h = parse(head);
  const r = parse(rest);
  if (tail.length) (rest === undefined ? h : r).pop();
  const words = [...h, ...new Array<number>(8 - h.length - r.length - tail.length).fill(0), ...r, ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function v6Text(bytes: number[]): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The URL parser writes IPv6 in its canonical (RFC 5952) form.
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * Parses a single address or a CIDR range (ACR's ipRules value). Refuses a range with host bits
 * set (10.0.0.5/24): guessing the network could open more than was meant, so the error names the
 * network to write instead.
 */
export function parseCidr(raw: unknown): Cidr {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid('an IP rule needs an address or a CIDR range, e.g. 203.0.113.0/24');
  const text = raw.trim();
  const shown = JSON.stringify(text.slice(0, 60));
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) && !addr.includes('%') ? 'ipv6' : undefined;
  if (!family) throw invalid(`${shown} is not an IPv4 or IPv6 address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/32)`);
  const bits = family === 'ipv4' ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits)
      throw invalid(`${shown}: the prefix length must be 0-${bits} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'}`);
    prefix = Number(p);
  }
  const bytes = family === 'ipv4' ? v4Bytes(addr) : v6Bytes(addr);
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  const fmt = (b: number[]) => (family === 'ipv4' ? b.join('.') : v6Text(b));
  const address = fmt(masked);
  if (masked.some((b, i) => b !== bytes[i])) throw invalid(`${shown} has host bits set: the range is ${address}/${prefix}`);
  return { family, address, prefix, value: prefix === bits ? address : `${address}/${prefix}` };
}

/** The stored rules (canonical values), tolerant of an empty or damaged column. */
export function storedRules(json: string | null | undefined): string[] {
  try {
    const v: unknown = JSON.parse(json || '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Adds ranges to a rule list: refuses exact duplicates (after canonicalisation: 1.2.3.4 and
 * 1.2.3.4/32 are one rule) and lists beyond MAX_IP_RULES. Overlapping ranges are allowed: every
 * rule allows, so an overlap changes nothing, and widening or narrowing a range by adding the new
 * one before removing the old never cuts off clients in between.
 */
export function withRules(current: string[], added: unknown[]): string[] {
  const out = [...current];
  const seen = new Set(current);
  for (const raw of added) {
    const c = parseCidr(raw);
    if (seen.has(c.value)) throw invalid(`the IP rule ${c.value} already exists`);
    seen.add(c.value);
    out.push(c.value);
  }
  if (out.length > MAX_IP_RULES) throw invalid(`a registry has at most ${MAX_IP_RULES} IP rules (${out.length} requested)`);
  return out;
}

/** Decides for one registry whether a client address may reach its login server. */
export interface NetworkGate {
  /** undefined = allowed; else why not (a rule name for the message). */
  refusal(clientIp: string): string | undefined;
}

const OPEN: NetworkGate = { refusal: () => undefined };

function blockList(values: string[]): BlockList {
  const list = new BlockList();
  for (const v of values) {
    try {
      const c = parseCidr(v);
      list.addSubnet(c.address, c.prefix, c.family);
    } catch {
      // A value that no longer parses allows nothing (it was validated when added).
    }
  }
  return list;
}

/** Compiles a registry's settings into a gate (cache it: see gateFor). */
export function compileGate(s: NetworkSettings): NetworkGate {
  if (s.public_network_access === 'Disabled') return { refusal: () => 'public network access is disabled' };
  if (s.network_default_action !== 'Deny') return OPEN;
  const rules = storedRules(s.network_ip_rules);
  const list = blockList(rules);
  return {
    refusal(clientIp) {
      const ip = normalizeAddress(clientIp);
      const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
      if (family && list.check(ip, family)) return undefined;
      return rules.length ? 'no IP rule matches it (default action Deny)' : 'the default action is Deny and there are no IP rules';
    },
  };
}

// Compiled gates by their settings: rows are read fresh per request, so the settings text is the
// key (equal settings share one gate); bounded so old versions do not pile up.
const gates = new Map<string, NetworkGate>();

/** The gate of a registry's settings, compiled once per distinct settings. */
export function gateFor(s: NetworkSettings): NetworkGate {
  if (s.public_network_access !== 'Disabled' && s.network_default_action !== 'Deny') return OPEN;
  const key = `${s.public_network_access}|${s.network_default_action}|${s.network_ip_rules}`;
  let g = gates.get(key);
  if (!g) {
    if (gates.size >= 1000) gates.clear();
    g = compileGate(s);
    gates.set(key, g);
  }
  return g;
}

/** ACR's refusal, pointing at Berth's docs instead of aka.ms/acr/firewall. */
export function refusalMessage(clientIp: string, registry: string, why: string): string {
  return `client with IP '${clientIp}' is not allowed access to registry ${registry}: ${why}. Refer to docs/network-rules.md to grant access.`;
}

/**
 * The client of a request: the socket's peer, or, when that peer is a trusted proxy, the
 * right-most X-Forwarded-For address that is not itself a trusted proxy (anything left of it was
 * written by the client and cannot be believed).
 */
export class ClientAddress {
  private readonly proxies: BlockList | undefined;

  constructor(trustedProxies: readonly string[]) {
    this.proxies = trustedProxies.length ? blockList(trustedProxies.map((p) => parseCidr(p).value)) : undefined;
  }

  private trusted(ip: string): boolean {
    if (!this.proxies) return false;
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
    return !!family && this.proxies.check(ip, family);
  }

  resolve(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const direct = normalizeAddress(peer ?? '') || 'unknown';
    if (!this.trusted(direct) || forwardedFor === undefined) return direct;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',')
      .map((h) => normalizeAddress(h.replace(/^\[|\](:\d+)?$/g, '')))
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!isIPv4(hop) && !isIPv6(hop)) return direct;
      if (!this.trusted(hop)) return hop;
    }
    return direct;
  }
}
