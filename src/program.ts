import { Command } from 'commander';
import { addGlobalOptions, outputOption, print, textOutput } from './cli/command-kit.js';
import { registerManagementCommands } from './cli/management.js';
import { VERSION } from './cli/version.js';

// The whole `berth` command tree, built in one place so main.ts runs it and tests can walk it
// (every command gets --query, -o, --only-show-errors and --debug from addGlobalOptions).
// The configuration schema and the logger are loaded by the commands that use them: the client
// commands, which most invocations are, start without them.

/** The configuration loader and the logger, for serve and the offline commands. */
async function serverKit() {
  const [{ configKeys, loadConfig, validateConfigFile }, { default: pino }, { createLogger }] = await Promise.all([
    import('./config/config.js'),
    import('pino'),
    import('./observability/logger.js'),
  ]);
  return { configKeys, loadConfig, validateConfigFile, pino, createLogger };
}

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('Berth: a self-hosted container registry service shaped like Azure Container Registry')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('serve')
    .description('run the registry server')
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000)')
    .option('--data <dir>', 'data directory (default ./data)')
    .option('--metadata <url>', 'metadata database: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: SQLite in the data directory)')
    .option('--domain <domain>', 'enable host-style addressing: <registry>.<domain>')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent')
    .option('--tls-cert <file>', 'PEM certificate (chain): serve HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--insecure-http', 'allow plain HTTP on a non-loopback listen address')
    .option('--region <name>', 'the region this node serves (a name in regions; BERTH_REGION); default the first')
    .option('--storage <driver>', 'blob storage driver: fs (default) or azure (settings storage.azure.*, BERTH_STORAGE_AZURE_*)')
    .option(
      '--storage-reads <mode>',
      'blob GETs: redirect (307 to a short-lived read-only storage URL), proxy (Berth streams the bytes) or auto (default: redirect on azure with an account key)',
    )
    .addOption(
      outputOption(
        'the line "berth listening on URL" on stderr; a format prints {url, dataDir, pid, version} on stdout once ready, and the log goes to stderr',
      ),
    )
    .action(async (o) => {
      const overrides: Record<string, unknown> = {};
      if (o.listen) overrides.listen = o.listen;
      if (o.data) overrides.dataDir = o.data;
      if (o.metadata) overrides.metadata = { url: o.metadata };
      if (o.domain) overrides.domain = o.domain;
      // --debug and --only-show-errors as log levels, unless --log-level says otherwise.
      const level = o.logLevel ?? (o.debug ? 'debug' : o.onlyShowErrors ? 'error' : undefined);
      if (level) overrides.log = { level };
      if (o.tlsCert || o.tlsKey) overrides.tls = { ...(o.tlsCert ? { cert: o.tlsCert } : {}), ...(o.tlsKey ? { key: o.tlsKey } : {}) };
      if (o.insecureHttp) overrides.insecureHttp = true;
      if (o.region) overrides.region = o.region;
      if (o.storage || o.storageReads)
        overrides.storage = { ...(o.storage ? { driver: o.storage } : {}), ...(o.storageReads ? { reads: o.storageReads } : {}) };
      const { loadConfig, createLogger, pino } = await serverKit();
      const config = loadConfig({ file: o.config ?? process.env.BERTH_CONFIG, overrides });
      // With an output format stdout carries the ready record alone: the JSON log moves to stderr.
      const log = textOutput(o) ? createLogger(config.log.level) : createLogger(config.log.level, pino.destination({ fd: 2 }));
      // Loaded here, not at the top: the client commands never load the server.
      const { startApp } = await import('./app.js');
      const app = await startApp(config, log);
      // Scripts read the ready record (e.g. --query url -o tsv) from stdout; people read stderr.
      if (textOutput(o)) process.stderr.write(`berth listening on ${app.url} (data ${config.dataDir})\n`);
      else print({ url: app.url, dataDir: config.dataDir, pid: process.pid, version: VERSION }, o);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down: finishing in-flight requests');
        app.close().then(
          () => {
            log.info('stopped');
            log.flush?.();
            setImmediate(() => process.exit(0));
          },
          (e) => {
            // Synchronous: the process exits right after, and the async logger would lose it.
            process.stderr.write(`shutdown failed: ${(e as Error).stack ?? String(e)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });

  const admin = program.command('admin').description('offline administration of a stopped deployment');
  admin
    .command('reset-password')
    .description(
      'give the owner account "admin" a new password on a stopped deployment (BERTH_ADMIN_PASSWORD, else a generated one printed once) and revoke its earlier sign-ins',
    )
    .option('-c, --config <file>', 'configuration file (YAML or JSON) of the deployment')
    .option('--data <dir>', 'data directory of the deployment (default ./data)')
    .option('--metadata <url>', 'metadata database: postgres://USER@HOST:PORT/DB or sqlite:PATH (default: SQLite in the data directory)')
    .option('--log-level <level>', 'log level on standard error (default warn)')
    .addOption(outputOption('the generated password alone on stdout'))
    .action(async (o: { config?: string; data?: string; metadata?: string; logLevel?: string; output?: string; query?: string }) => {
      const overrides: Record<string, unknown> = {};
      if (o.data) overrides.dataDir = o.data;
      if (o.metadata) overrides.metadata = { url: o.metadata };
      overrides.log = { level: o.logLevel ?? 'warn' };
      const { loadConfig, createLogger, pino } = await serverKit();
      const config = loadConfig({ file: o.config ?? process.env.BERTH_CONFIG, overrides });
      const log = createLogger(config.log.level, pino.destination({ fd: 2, sync: true }));
      const { resetOwnerPassword } = await import('./app.js');
      const r = await resetOwnerPassword(config, log, config.auth.adminPassword || process.env.BERTH_ADMIN_PASSWORD || undefined);
      if (!textOutput(o))
        return print(
          { username: r.username, created: r.created, metadata: r.metadata, ...(r.generated ? { password: r.password } : {}) },
          o,
        );
      process.stderr.write(
        `${r.created ? 'created' : 'reset'} the owner account "${r.username}" in ${r.metadata}; its earlier sign-ins are revoked.\n` +
          (r.generated ? 'The new password (shown once):\n' : 'The password is the one in BERTH_ADMIN_PASSWORD.\n'),
      );
      if (r.generated) process.stdout.write(`${r.password}\n`);
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('validate <file>')
    .description('check a configuration file against the schema (unknown keys are errors)')
    .addOption(outputOption('"FILE: valid"'))
    .action(async (file: string, o: { output?: string; query?: string }) => {
      const { validateConfigFile } = await serverKit();
      validateConfigFile(file);
      if (textOutput(o)) process.stdout.write(`${file}: valid\n`);
      else print({ file, valid: true }, o);
    });
  config
    .command('keys')
    .description('list every configuration key with its environment variable')
    .addOption(outputOption('one "key<TAB>ENV<TAB>type" line each'))
    .action(async (o: { output?: string; query?: string }) => {
      const { configKeys } = await serverKit();
      const keys = configKeys();
      if (textOutput(o)) for (const k of keys) process.stdout.write(`${k.path.join('.')}\t${k.env}\t${k.type}\n`);
      else
        print(
          keys.map((k) => ({ key: k.path.join('.'), env: k.env, type: k.type })),
          o,
        );
    });

  registerManagementCommands(program);
  // Last: every command registered above (and any a register function adds) gets the global flags.
  addGlobalOptions(program);
  return program;
}
