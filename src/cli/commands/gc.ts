import type { Command } from 'commander';
import { CliError } from '../client.js';
import { client, common, print } from '../command-kit.js';
import { gcStatusTable } from '../tables.js';

// `berth gc`: online garbage collection (beyond ACR, which collects behind the scenes).

interface RunReport {
  id: number;
  status: string;
  error: string | null;
}

export function registerGcCommands(program: Command): void {
  const gc = program.command('gc').description('online garbage collection: what is pending, past runs, and running one now');

  common(
    gc.command('status').description('pending garbage (waiting out the grace period), the running collection and the last runs'),
  ).action(async (o) => print(await client(o).json('GET', '/api/gc'), o, { table: gcStatusTable }));

  common(gc.command('run').description('collect garbage now (referrers whose subject is gone, unreferenced blobs past the grace period)'))
    .option('--dry-run', 'change nothing; report what a run now would remove and mark')
    .option('--no-wait', 'start the run and return; follow it with berth gc status')
    .action(async (o) => {
      const api = client(o);
      if (o.dryRun) return print(await api.json('POST', '/api/gc/runs', { dryRun: true }), o);
      let run = await api.json<RunReport>('POST', '/api/gc/runs', {});
      if (o.wait) {
        while (run.status === 'running') {
          await new Promise((r) => setTimeout(r, 500));
          run = await api.json<RunReport>('GET', `/api/gc/runs/${run.id}`);
        }
      }
      print(run, o);
      if (run.status === 'failed') throw new CliError(`garbage collection run ${run.id} failed: ${run.error ?? 'unknown error'}`, 1);
    });
}
