import { type Command, Option, type OptionValues } from 'commander';
import { CliError, enc } from '../client.js';
import { client, common, print, warn } from '../command-kit.js';
import { webhookConfigTable, webhookEventsTable } from '../tables.js';

// `berth webhook` (az acr webhook) and `berth job` (the durable job queue, for operators).

const ACTIONS = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete', 'scan'];

/** `--headers k=v k2=v2` (az's space-separated key=value pairs). */
export function parseHeaders(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new CliError(`--headers takes key=value pairs, got "${v}"`, 2);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function actions(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  for (const a of values) if (!ACTIONS.includes(a)) throw new CliError(`unknown action "${a}"; use ${ACTIONS.join(', ')}`, 2);
  return values;
}

/** The server's warnings (e.g. the egress policy will refuse the URI) on stderr, as az prints them; the result goes to stdout. */
function warned<T extends { warnings?: string[] }>(res: T): T {
  for (const w of res.warnings ?? []) warn(w);
  return res;
}

export function registerWebhookCommands(program: Command): void {
  const webhook = program.command('webhook').description('registry webhooks (like az acr webhook), delivered with retries and signed');
  const named = (c: Command) =>
    common(c)
      .requiredOption('-r, --registry <registry>', 'registry name')
      .requiredOption('-n, --name <webhook>', 'webhook name: 5-50 letters and digits');
  const path = (o: { registry: string; name?: string }) =>
    `/api/registries/${enc(o.registry)}/webhooks${o.name !== undefined ? `/${enc(o.name)}` : ''}`;
  const fields = (o: OptionValues) => ({
    ...(o.uri !== undefined ? { serviceUri: o.uri } : {}),
    ...(o.actions !== undefined ? { actions: actions(o.actions) } : {}),
    ...(o.scope !== undefined ? { scope: o.scope } : {}),
    ...(o.headers !== undefined ? { customHeaders: parseHeaders(o.headers) } : {}),
    ...(o.status !== undefined ? { status: o.status } : {}),
    ...(o.format !== undefined ? { format: o.format } : {}),
    ...(o.location !== undefined ? { location: o.location } : {}),
  });

  named(webhook.command('create').description('create a webhook; its signing secret is shown once'))
    .requiredOption('--uri <url>', 'the URL events are POSTed to')
    .requiredOption('--actions <actions...>', `one or more of ${ACTIONS.join(', ')}`)
    .option('--scope <scope>', '"repo:tag", "repo:*" (every tag), "repo" (= repo:latest); empty or absent: the whole registry')
    .option('--headers <key=value...>', 'custom request headers (e.g. Authorization=...)')
    .addOption(new Option('--status <status>', 'webhook status').choices(['enabled', 'disabled']))
    .addOption(new Option('--format <format>', 'payload format: ACR JSON, or CloudEvents 1.0 wrapping it').choices(['acr', 'cloudevents']))
    .option('-l, --location <region>', 'per-replica webhook: fire when an image is complete in this region (geo-replication)')
    .action(async (o) =>
      print(
        warned(await client(o).json<{ warnings?: string[] }>('POST', path({ registry: o.registry }), { name: o.name, ...fields(o) })),
        o,
      ),
    );

  named(webhook.command('update').description('change a webhook'))
    .option('--uri <url>', 'the URL events are POSTed to')
    .option('--actions <actions...>', `one or more of ${ACTIONS.join(', ')}`)
    .option('--scope <scope>', '"repo:tag", "repo:*", "repo" or "" (the whole registry)')
    .option('--headers <key=value...>', 'custom request headers (replace the current ones)')
    .addOption(new Option('--status <status>', 'webhook status').choices(['enabled', 'disabled']))
    .addOption(new Option('--format <format>', 'payload format').choices(['acr', 'cloudevents']))
    .action(async (o) => {
      const patch = fields(o);
      if (Object.keys(patch).length === 0)
        throw new CliError('nothing to update: give --uri, --actions, --scope, --headers, --status or --format', 2);
      print(warned(await client(o).json<{ warnings?: string[] }>('PATCH', path(o), patch)), o);
    });

  named(webhook.command('delete').description('delete a webhook')).action(async (o) => {
    await client(o).request('DELETE', path(o));
  });

  common(webhook.command('list').description('list the webhooks of a registry'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .action(async (o) => print((await client(o).json<{ value: unknown[] }>('GET', path({ registry: o.registry }))).value, o));

  named(webhook.command('show').description('show a webhook (URI and header values masked)')).action(async (o) =>
    print(await client(o).json('GET', path(o)), o),
  );

  named(webhook.command('get-config').description('the service URI and custom headers in full (needs write access)')).action(async (o) =>
    print(await client(o).json('POST', `${path(o)}/getCallbackConfig`), o, { table: webhookConfigTable }),
  );

  named(webhook.command('ping').description('send a ping event (delivered by the job queue; see list-events)')).action(async (o) =>
    print(warned(await client(o).json<{ warnings?: string[] }>('POST', `${path(o)}/ping`)), o),
  );

  named(webhook.command('list-events').description('the delivery log: request, response, attempt, duration (newest first)')).action(
    async (o) =>
      print((await client(o).json<{ value: unknown[] }>('GET', `${path(o)}/listEvents`)).value, o, { table: webhookEventsTable }),
  );

  named(webhook.command('redeliver').description('deliver a past event again'))
    .requiredOption('--event-id <id>', 'the event id (from list-events)')
    .action(async (o) => print(await client(o).json('POST', `${path(o)}/redeliver`, { eventId: o.eventId }), o));
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('the durable job queue (webhook deliveries and other background work)');
  common(job.command('list').description('list jobs, newest first'))
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(['queued', 'running', 'succeeded', 'dead']))
    .option('--kind <kind>', 'only jobs of this kind, e.g. webhook.deliver')
    .action(async (o) => {
      const q = new URLSearchParams();
      if (o.state) q.set('state', o.state);
      if (o.kind) q.set('kind', o.kind);
      print((await client(o).json<{ value: unknown[] }>('GET', `/api/jobs${q.size ? `?${q}` : ''}`)).value, o);
    });
  common(job.command('show').description('show a job'))
    .requiredOption('--id <id>', 'job id')
    .action(async (o) => print(await client(o).json('GET', `/api/jobs/${enc(o.id)}`), o));
  common(job.command('retry').description('queue a dead job again with a fresh set of attempts'))
    .requiredOption('--id <id>', 'job id')
    .action(async (o) => print(await client(o).json('POST', `/api/jobs/${enc(o.id)}/retry`), o));
}
