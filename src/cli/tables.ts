// Table shapes for results whose main information sits in nested fields (az's per-command
// table_transformer, as in azure-cli's acr/_format.py): each turns the command's JSON answer into
// rows of scalar columns for -o table. Column names are camelCase keys (titled by the renderer:
// currentValue -> "Current Value"). They read fields defensively: a field the server adds later
// is ignored, a missing one leaves an empty cell, and they never fail on an unexpected shape.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** The items of a listing ({value: [...]}), a list, or the one object. */
function itemsOf(value: unknown): unknown[] {
  if (isObj(value) && Array.isArray(value.value)) return value.value;
  return Array.isArray(value) ? value : [value];
}

const at = (v: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[k] : undefined), v);

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Nested objects flattened into prefixed columns (progress.blobs.done -> progressBlobsDone); lists
 * of scalars kept (the renderer joins them), lists of objects left out.
 */
export function flatten(value: unknown, depth = 3): unknown {
  const one = (item: unknown): unknown => {
    if (!isObj(item)) return item;
    const out: Obj = {};
    const walk = (o: Obj, prefix: string, d: number) => {
      for (const [k, v] of Object.entries(o)) {
        const key = prefix ? prefix + upperFirst(k) : k;
        if (isObj(v)) {
          if (d > 1) walk(v, key, d - 1);
        } else if (!Array.isArray(v) || v.every(isScalar)) out[key] = v;
      }
    };
    walk(item, '', depth);
    return out;
  };
  return Array.isArray(value) ? value.map(one) : isObj(value) && Array.isArray(value.value) ? value.value.map(one) : one(value);
}

/** Password columns: each password's value (when shown) and expiry, named after it (Password, Password2, Password1 Expiry...). */
function passwordColumns(passwords: unknown, withExpiry: boolean): Obj {
  const out: Obj = {};
  for (const p of Array.isArray(passwords) ? passwords : []) {
    const name = typeof at(p, 'name') === 'string' ? (at(p, 'name') as string) : 'password';
    if (at(p, 'value') !== undefined) out[name] = at(p, 'value');
    if (withExpiry) out[`${name}Expiry`] = at(p, 'expiry') ?? '';
  }
  return out;
}

/** show-usage: NAME, LIMIT, CURRENT VALUE, UNIT (az's usage_output_format). */
export function usageTable(value: unknown): unknown {
  return itemsOf(value).map((u) => ({
    name: at(u, 'name'),
    limit: at(u, 'limit'),
    currentValue: at(u, 'currentValue'),
    unit: at(u, 'unit'),
  }));
}

/** credential show / renew: USERNAME, PASSWORD, PASSWORD2 (az's credential_output_format). */
export function credentialTable(value: unknown): unknown {
  return itemsOf(value).map((c) => ({ username: at(c, 'username'), ...passwordColumns(at(c, 'passwords'), false) }));
}

/** token list / show / create: name, scope map, status, password expiries (values only when just made). */
export function tokenTable(value: unknown): unknown {
  return itemsOf(value).map((t) => ({
    name: at(t, 'name'),
    scopeMap: at(t, 'scopeMapName'),
    status: at(t, 'status'),
    ...passwordColumns(at(t, 'credentials', 'passwords'), true),
    creationDate: at(t, 'creationDate'),
  }));
}

/** token credential generate: the user name and the new passwords with their expiry. */
export function tokenPasswordsTable(value: unknown): unknown {
  return itemsOf(value).map((c) => ({ username: at(c, 'username'), ...passwordColumns(at(c, 'passwords'), true) }));
}

/** gc status: the grace period, what is pending (flattened), the running collection and the last run. */
export function gcStatusTable(value: unknown): unknown {
  if (!isObj(value)) return value;
  const row: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'running') row.running = v ? `run ${String(at(v, 'id'))} since ${String(at(v, 'startedAt'))}` : 'no';
    else if (isScalar(v)) row[k] = v;
    else if (k === 'lastRuns' && Array.isArray(v)) {
      const last: unknown = v[0];
      row.lastRun = last
        ? `run ${String(at(last, 'id'))}: ${String(at(last, 'status'))} ${String(at(last, 'finishedAt') ?? at(last, 'startedAt'))}`
        : '';
    } else if (isObj(v)) Object.assign(row, flatten({ [k]: v }, 2) as Obj);
  }
  return row;
}

/** manifest list-referrers: one row per referrer (a nested referrers list, as --recursive gives, adds rows below its subject). */
export function referrersTable(value: unknown): unknown {
  const rows: Obj[] = [];
  const add = (list: unknown, subject: unknown) => {
    for (const d of Array.isArray(list) ? list : []) {
      rows.push({
        digest: at(d, 'digest'),
        artifactType: at(d, 'artifactType') ?? at(d, 'config', 'mediaType') ?? '',
        mediaType: at(d, 'mediaType'),
        size: at(d, 'size'),
        subject,
      });
      add(at(d, 'referrers') ?? at(d, 'manifests'), at(d, 'digest'));
    }
  };
  const top = isObj(value) ? (value.manifests ?? value.referrers ?? value.value) : value;
  add(top, isObj(value) ? value.subject : undefined);
  return rows;
}

/** manifest show: the descriptors it references (config and layers, or an index's manifests with their platform). */
export function manifestTable(value: unknown): unknown {
  if (!isObj(value)) return value;
  const row = (kind: string, d: unknown): Obj => ({
    kind,
    mediaType: at(d, 'mediaType'),
    digest: at(d, 'digest'),
    size: at(d, 'size'),
    platform: [at(d, 'platform', 'os'), at(d, 'platform', 'architecture'), at(d, 'platform', 'variant')].filter(Boolean).join('/'),
  });
  const rows: Obj[] = [];
  if (isObj(value.config)) rows.push(row('config', value.config));
  for (const l of Array.isArray(value.layers) ? value.layers : []) rows.push(row('layer', l));
  for (const m of Array.isArray(value.manifests) ? value.manifests : []) rows.push(row('manifest', m));
  if (isObj(value.subject)) rows.push(row('subject', value.subject));
  return rows;
}

/** purge: one row per repository with what was (or would be) deleted, then the totals; or why it did not run. */
export function purgeTable(value: unknown): unknown {
  if (isObj(value) && typeof value.error === 'string') return { error: value.error };
  if (!isObj(value) || !Array.isArray(value.repositories)) return flatten(value);
  const rows: Obj[] = value.repositories.map((r) => ({
    repository: at(r, 'repository'),
    deletedTags: at(r, 'deletedTags'),
    deletedManifests: at(r, 'deletedManifests'),
    dryRun: value.dryRun,
  }));
  rows.push({ repository: '(total)', deletedTags: value.deletedTags, deletedManifests: value.deletedManifests, dryRun: value.dryRun });
  if (Array.isArray(value.skipped) && value.skipped.length)
    rows.push({ repository: `(skipped: ${value.skipped.length} locked or immutable)` });
  return rows;
}

/** webhook list-events: id, action, outcome, HTTP status, attempt, duration, time (az's webhook_list_events_output_format). */
export function webhookEventsTable(value: unknown): unknown {
  return itemsOf(value).map((e) => ({
    id: at(e, 'id'),
    action: at(e, 'action') ?? at(e, 'eventRequestMessage', 'content', 'action'),
    outcome: at(e, 'outcome'),
    HTTPStatus: at(e, 'eventResponseMessage', 'statusCode') ?? '',
    attempt: at(e, 'attempt'),
    durationMs: at(e, 'durationMs'),
    error: at(e, 'error') ?? '',
    createdAt: at(e, 'createdAt'),
  }));
}

/** webhook get-config: the service URI and each custom header as name=value. */
export function webhookConfigTable(value: unknown): unknown {
  const headers = at(value, 'customHeaders');
  return {
    serviceUri: at(value, 'serviceUri'),
    customHeaders: isObj(headers) ? Object.entries(headers).map(([k, v]) => `${k}=${String(v)}`) : [],
  };
}

const SEVERITY_COLUMNS = ['critical', 'high', 'medium', 'low', 'unknown'] as const;

/** scan list: one row per image, its status and findings by severity. */
export function scanListTable(value: unknown): unknown {
  return itemsOf(value).map((s) => ({
    repository: at(s, 'repository'),
    digest: at(s, 'digest'),
    status: at(s, 'status'),
    ...Object.fromEntries(SEVERITY_COLUMNS.map((k) => [k, at(s, 'summary', k) ?? ''])),
    scannedAt: at(s, 'scannedAt') ?? '',
  }));
}

/** scan show: one row per finding (id, package, versions, severity); the status row when there are none. */
export function scanShowTable(value: unknown): unknown {
  const findings = at(value, 'findings');
  if (!Array.isArray(findings) || findings.length === 0)
    return [{ status: at(value, 'status'), message: at(value, 'message') ?? '', findings: 0, dataDate: at(value, 'dataDate') ?? '' }];
  return findings.map((f) => ({
    id: at(f, 'id'),
    severity: at(f, 'severity'),
    package: at(f, 'package'),
    installedVersion: at(f, 'installedVersion'),
    fixedVersion: at(f, 'fixedVersion') ?? '',
    ecosystem: at(f, 'ecosystem'),
  }));
}

/**
 * Manifest and tag attributes (show-metadata, show-manifests --detail): their own columns, with
 * the scan (a nested object) as scanStatus and the counts that decide quarantine.
 */
export function scanColumnsTable(value: unknown): unknown {
  return itemsOf(value).map((item) => {
    if (!isObj(item)) return item;
    const { scan, ...rest } = item;
    if (!isObj(scan)) return rest;
    return {
      ...rest,
      scanStatus: at(scan, 'status') ?? '',
      critical: at(scan, 'summary', 'critical') ?? '',
      high: at(scan, 'summary', 'high') ?? '',
      medium: at(scan, 'summary', 'medium') ?? '',
      low: at(scan, 'summary', 'low') ?? '',
      fixable: at(scan, 'summary', 'fixable') ?? '',
    };
  });
}

/** replication list/show: NAME, LOCATION, HOME, STATUS, LAG SECONDS, PENDING BLOBS, PENDING BYTES, REGION ENDPOINT ENABLED. */
export function replicationTable(value: unknown): unknown {
  return itemsOf(value).map((r) => ({
    name: at(r, 'name'),
    location: at(r, 'location'),
    home: at(r, 'home'),
    provisioningState: at(r, 'provisioningState'),
    status: at(r, 'status', 'displayStatus'),
    lagSeconds: at(r, 'lagSeconds'),
    pendingBlobs: at(r, 'pendingBlobs'),
    pendingBytes: at(r, 'pendingBytes'),
    regionEndpointEnabled: at(r, 'regionEndpointEnabled'),
  }));
}

/** Federated credentials: the one audience as a column (the audiences array would be left out). */
export function federatedTable(value: unknown): unknown {
  const row = (c: Record<string, unknown>) => ({
    name: c.name,
    issuer: c.issuer,
    subject: c.subject,
    audience: Array.isArray(c.audiences) ? c.audiences.join(', ') : '',
    description: c.description,
    createdTime: c.createdTime,
  });
  if (Array.isArray(value)) return value.map((c) => row(c as Record<string, unknown>));
  return value && typeof value === 'object' ? row(value as Record<string, unknown>) : value;
}

/** Private endpoint connections: the state and the listener as columns. */
export function privateEndpointTable(value: unknown): unknown {
  return itemsOf(value).map((c) => ({
    name: at(c, 'name'),
    listen: at(c, 'privateEndpoint', 'listen'),
    status: at(c, 'privateLinkServiceConnectionState', 'status'),
    description: at(c, 'privateLinkServiceConnectionState', 'description'),
    location: at(c, 'privateEndpoint', 'location') ?? '(every region)',
    listener: at(c, 'listener', 'state'),
    // The nodes that cannot bind, and why: what an operator acts on (the others serve meanwhile).
    failedNodes: ((at(c, 'listener', 'nodes') as { node: string; state: string; error?: string }[] | undefined) ?? [])
      .filter((n) => n.state === 'Failed')
      .map((n) => `${n.node}: ${n.error ?? 'failed'}`)
      .join('; '),
    provisioningState: at(c, 'provisioningState'),
  }));
}
