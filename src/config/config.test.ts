import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ConfigError,
  configKeys,
  dataEndpointTemplates,
  loadConfig,
  readConfigFile,
  validateConfig,
  validateConfigFile,
} from './config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(name: string, text: string): string {
  const p = path.join(dir, `${++n}-${name}`);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `ConfigError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

describe('defaults', () => {
  test('with no file, env or flags', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.listen, '127.0.0.1:5000');
    assert.equal(c.dataDir, path.resolve('./data'));
    assert.equal(c.publicUrl, '');
    assert.equal(c.domain, '');
    assert.deepEqual(c.metadata, { url: '', poolSize: 10 });
    assert.deepEqual(c.storage, {
      driver: 'fs',
      path: path.resolve('./data', 'storage'),
      reads: 'auto',
      redirectTtlSeconds: 300,
      encryption: {
        keyFile: '',
        keyCacheSeconds: 300,
        providerTimeoutSeconds: 10,
        providers: {
          vault: { token: '', tokenFile: '', namespace: '', caFile: '' },
          azureKeyVault: { tenantId: '', clientId: '', clientSecretFile: '', authorityHost: '', caFile: '', verifyChallengeResource: true },
          pkcs11: { module: '', pinFile: '' },
        },
      },
      azure: {
        connectionString: '',
        accountName: '',
        accountKey: '',
        endpoint: '',
        sasToken: '',
        publicEndpoint: '',
        container: 'berth',
        createContainer: true,
        retry: { maxTries: 4, delayMs: 200, maxDelayMs: 2000, operationTimeoutMs: 30_000 },
      },
    });
    assert.deepEqual(c.uploads, { maxAgeSeconds: 86400, purgeIntervalSeconds: 600 });
    assert.deepEqual(c.limits, { manifestMaxBytes: 4 * 1024 * 1024, blobMaxBytes: 0, rateLimits: false, rateMultiplier: 1 });
    assert.deepEqual(c.log, { level: 'info', access: true });
    assert.equal(c.shutdownTimeoutSeconds, 30);
  });

  test('dataDir is made absolute; storage.path resolves against it unless absolute', () => {
    const c = loadConfig({ env: {}, overrides: { dataDir: 'rel/dir', storage: { path: 'blobs' } } });
    assert.equal(c.dataDir, path.resolve('rel/dir'));
    assert.equal(c.storage.path, path.resolve('rel/dir', 'blobs'));
    const abs = loadConfig({ env: {}, overrides: { storage: { path: '/srv/berth' } } });
    assert.equal(abs.storage.path, '/srv/berth');
  });

  test('the result is deeply frozen', () => {
    const c = loadConfig({ env: {} });
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.storage));
    assert.ok(Object.isFrozen(c.metadata));
    assert.ok(Object.isFrozen(c.log));
    assert.throws(() => {
      (c as { listen: string }).listen = 'x';
    }, TypeError);
    assert.throws(() => {
      (c.log as { access: boolean }).access = false;
    }, TypeError);
  });
});

describe('config files', () => {
  test('YAML', () => {
    const f = file(
      'berth.yaml',
      [
        'listen: 0.0.0.0:6000',
        'dataDir: /var/lib/berth',
        'metadata:',
        '  url: postgres://berth@db:5432/berth',
        '  poolSize: 20',
        'log:',
        '  level: debug',
        '  access: false',
        '',
      ].join('\n'),
    );
    const c = loadConfig({ file: f, env: {} });
    assert.equal(c.listen, '0.0.0.0:6000');
    assert.equal(c.dataDir, '/var/lib/berth');
    assert.equal(c.storage.path, '/var/lib/berth/storage');
    assert.deepEqual(c.metadata, { url: 'postgres://berth@db:5432/berth', poolSize: 20 });
    assert.deepEqual(c.log, { level: 'debug', access: false });
    assert.equal(c.limits.manifestMaxBytes, 4 * 1024 * 1024, 'unspecified keys keep their defaults');
  });

  test('JSON (by extension)', () => {
    const f = file('berth.json', JSON.stringify({ listen: '[::1]:5001', limits: { blobMaxBytes: 1048576 } }));
    const c = loadConfig({ file: f, env: {} });
    assert.equal(c.listen, '[::1]:5001');
    assert.equal(c.limits.blobMaxBytes, 1048576);
  });

  test('an empty file means all defaults', () => {
    assert.deepEqual(readConfigFile(file('empty.yaml', '')), {});
    assert.equal(loadConfig({ file: file('empty.yaml', '# nothing\n'), env: {} }).listen, '127.0.0.1:5000');
  });

  test('unknown keys are rejected, naming the key and the file', () => {
    const f = file('typo.yaml', 'listne: 127.0.0.1:5000\n');
    configError(() => loadConfig({ file: f, env: {} }), new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: unknown key listne`));
    const nested = file('nested.yaml', 'storage:\n  driver: fs\n  root: /x\n');
    configError(() => loadConfig({ file: nested, env: {} }), /unknown key storage\.root/);
    configError(() => validateConfig({ a: 1, b: 2 }, 'x'), /unknown keys a, b/);
  });

  test('wrong types and values name the key', () => {
    configError(() => loadConfig({ file: file('t.yaml', 'metadata:\n  poolSize: lots\n'), env: {} }), /metadata\.poolSize/);
    configError(() => loadConfig({ file: file('t.yaml', 'log:\n  level: loud\n'), env: {} }), /log\.level/);
    configError(() => loadConfig({ file: file('t.yaml', 'listen: 5000\n'), env: {} }), /listen/);
    configError(() => loadConfig({ file: file('t.yaml', 'listen: localhost\n'), env: {} }), /listen must be HOST:PORT/);
    configError(() => loadConfig({ file: file('t.yaml', 'uploads:\n  maxAgeSeconds: 10\n'), env: {} }), /uploads\.maxAgeSeconds/);
    configError(() => loadConfig({ file: file('t.yaml', 'domain: Registry.Example.com\n'), env: {} }), /domain must be a DNS name/);
    configError(() => loadConfig({ file: file('t.yaml', 'storage:\n  driver: s3\n'), env: {} }), /storage\.driver/);
  });

  test('listen ports above 65535 and publicUrl values that are not URLs fail at load, not at first request', () => {
    configError(() => validateConfig({ listen: '127.0.0.1:70000' }, 'x'), /listen/);
    assert.equal(validateConfig({ listen: '127.0.0.1:0' }, 'x').listen, '127.0.0.1:0');
    assert.equal(validateConfig({ listen: '127.0.0.1:65535' }, 'x').listen, '127.0.0.1:65535');
    configError(() => validateConfig({ publicUrl: 'registry.example.com' }, 'x'), /publicUrl/);
    configError(() => validateConfig({ publicUrl: 'ftp://registry.example.com' }, 'x'), /publicUrl/);
    assert.equal(validateConfig({ publicUrl: 'https://registry.example.com' }, 'x').publicUrl, 'https://registry.example.com');
  });

  test('unreadable, malformed, or non-mapping files', () => {
    configError(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} }), /cannot read config file .*ENOENT/);
    configError(() => loadConfig({ file: file('bad.yaml', 'listen: [\n'), env: {} }), /not valid YAML/);
    configError(() => loadConfig({ file: file('bad.json', '{'), env: {} }), /not valid JSON/);
    configError(() => loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }), /must hold a mapping/);
    configError(() => loadConfig({ file: file('scalar.yaml', 'hello\n'), env: {} }), /must hold a mapping/);
  });
});

describe('environment (BERTH_*)', () => {
  test('every key has an environment variable derived from its path', () => {
    const keys = configKeys();
    const byPath = Object.fromEntries(keys.map((k) => [k.path.join('.'), k]));
    assert.equal(byPath['listen']?.env, 'BERTH_LISTEN');
    assert.equal(byPath['dataDir']?.env, 'BERTH_DATA_DIR');
    assert.equal(byPath['storage.path']?.env, 'BERTH_STORAGE_PATH');
    assert.equal(byPath['log.access']?.env, 'BERTH_LOG_ACCESS');
    assert.equal(byPath['log.access']?.type, 'boolean');
    assert.equal(byPath['metadata.url']?.env, 'BERTH_METADATA_URL');
    assert.equal(byPath['metadata.poolSize']?.env, 'BERTH_METADATA_POOL_SIZE');
    assert.equal(byPath['metadata.poolSize']?.type, 'number');
    assert.equal(byPath['limits.manifestMaxBytes']?.env, 'BERTH_LIMITS_MANIFEST_MAX_BYTES');
    assert.equal(new Set(keys.map((k) => k.env)).size, keys.length, 'env names are unique');
    assert.ok(keys.every((k) => /^BERTH_[A-Z0-9_]+$/.test(k.env)));
    assert.ok(!keys.some((k) => k.path.join('.') === 'metadata' || k.path.join('.') === 'storage'), 'only leaves are keys');
  });

  test('top-level and nested overrides', () => {
    const c = loadConfig({
      env: {
        BERTH_LISTEN: '0.0.0.0:7000',
        BERTH_DATA_DIR: '/tmp/berth-env',
        BERTH_STORAGE_PATH: '/tmp/berth-blobs',
        BERTH_LOG_ACCESS: 'false',
        BERTH_METADATA_URL: 'postgres://u@h:5432/d',
        BERTH_METADATA_POOL_SIZE: '25',
        BERTH_SHUTDOWN_TIMEOUT_SECONDS: '5',
      },
    });
    assert.equal(c.listen, '0.0.0.0:7000');
    assert.equal(c.dataDir, '/tmp/berth-env');
    assert.equal(c.storage.path, '/tmp/berth-blobs');
    assert.equal(c.log.access, false);
    assert.equal(c.log.level, 'info', 'siblings of an env-set key keep their defaults');
    assert.equal(c.metadata.url, 'postgres://u@h:5432/d');
    assert.equal(c.metadata.poolSize, 25);
    assert.equal(c.shutdownTimeoutSeconds, 5);
  });

  test('booleans accept true/false/1/0/yes/no in any case', () => {
    for (const [raw, want] of [
      ['true', true],
      ['FALSE', false],
      ['1', true],
      ['0', false],
      ['yes', true],
      ['No', false],
    ] as const) {
      assert.equal(loadConfig({ env: { BERTH_LOG_ACCESS: raw } }).log.access, want, raw);
    }
  });

  test('empty variables are ignored; unrelated BERTH_ variables too', () => {
    const c = loadConfig({ env: { BERTH_LISTEN: '', BERTH_SERVER: 'http://x', BERTH_CONFIG: '/nope' } });
    assert.equal(c.listen, '127.0.0.1:5000');
  });

  test('bad values are reported with the variable name or the key', () => {
    configError(() => loadConfig({ env: { BERTH_LOG_ACCESS: 'maybe' } }), /BERTH_LOG_ACCESS: expected true or false, got "maybe"/);
    configError(() => loadConfig({ env: { BERTH_METADATA_POOL_SIZE: 'ten' } }), /BERTH_METADATA_POOL_SIZE: expected a number, got "ten"/);
    configError(() => loadConfig({ env: { BERTH_METADATA_POOL_SIZE: '0' } }), /metadata\.poolSize/);
    configError(() => loadConfig({ env: { BERTH_METADATA_POOL_SIZE: '2.5' } }), /metadata\.poolSize/);
    configError(() => loadConfig({ env: { BERTH_LOG_LEVEL: 'loud' } }), /log\.level/);
    configError(() => loadConfig({ env: { BERTH_LISTEN: 'nowhere' } }), /listen must be HOST:PORT/);
  });

  test('key provider credentials come from the file or the environment (secrets kept out of the file)', () => {
    const f = file(
      'providers.yaml',
      'storage:\n  encryption:\n    providers:\n      vault:\n        namespace: team-a\n      pkcs11:\n        module: /usr/lib/softhsm/libsofthsm2.so\n',
    );
    const c = loadConfig({
      file: f,
      env: {
        BERTH_STORAGE_ENCRYPTION_PROVIDERS_VAULT_TOKEN_FILE: '/run/secrets/vault-token',
        BERTH_STORAGE_ENCRYPTION_PROVIDERS_AZURE_KEY_VAULT_CLIENT_ID: 'c1',
        BERTH_STORAGE_ENCRYPTION_PROVIDERS_AZURE_KEY_VAULT_VERIFY_CHALLENGE_RESOURCE: 'false',
        BERTH_STORAGE_ENCRYPTION_PROVIDERS_PKCS11_PIN_FILE: '/run/secrets/hsm-pin',
      },
    });
    const p = c.storage.encryption.providers;
    assert.deepEqual(p.vault, { token: '', tokenFile: '/run/secrets/vault-token', namespace: 'team-a', caFile: '' });
    assert.equal(p.azureKeyVault.clientId, 'c1');
    assert.equal(p.azureKeyVault.verifyChallengeResource, false);
    assert.deepEqual(p.pkcs11, { module: '/usr/lib/softhsm/libsofthsm2.so', pinFile: '/run/secrets/hsm-pin' });
    configError(
      () => loadConfig({ env: { BERTH_STORAGE_ENCRYPTION_PROVIDERS_AZURE_KEY_VAULT_AUTHORITY_HOST: 'http://login.example' } }),
      /authorityHost must be empty or an https URL/,
    );
  });

  test('environment wins over the file', () => {
    const f = file('env.yaml', 'listen: 127.0.0.1:6000\nlog:\n  level: warn\n  access: true\n');
    const c = loadConfig({ file: f, env: { BERTH_LISTEN: '127.0.0.1:6001', BERTH_LOG_ACCESS: 'no' } });
    assert.equal(c.listen, '127.0.0.1:6001');
    assert.equal(c.log.access, false);
    assert.equal(c.log.level, 'warn', 'the file still supplies the keys env leaves alone');
  });

  test('a bad file is reported against the file even when env would fix it', () => {
    const f = file('bad-env.yaml', 'listen: nowhere\n');
    configError(() => loadConfig({ file: f, env: { BERTH_LISTEN: '127.0.0.1:1' } }), /bad-env\.yaml: listen/);
  });
});

describe('flags (overrides)', () => {
  test('flags win over env and file', () => {
    const f = file('flags.yaml', 'listen: 127.0.0.1:6000\nmetadata:\n  poolSize: 3\n');
    const c = loadConfig({
      file: f,
      env: { BERTH_LISTEN: '127.0.0.1:6001', BERTH_METADATA_URL: 'postgres://env@h/d', BERTH_DATA_DIR: '/tmp/env' },
      overrides: { listen: '127.0.0.1:6002', metadata: { url: 'postgres://flag@h/d' }, dataDir: '/tmp/flag' },
    });
    assert.equal(c.listen, '127.0.0.1:6002');
    assert.equal(c.metadata.url, 'postgres://flag@h/d');
    assert.equal(c.metadata.poolSize, 3, 'a nested flag does not wipe sibling keys from the file');
    assert.equal(c.dataDir, '/tmp/flag');
  });

  test('undefined overrides are ignored', () => {
    const c = loadConfig({ env: { BERTH_LISTEN: '127.0.0.1:6001' }, overrides: { listen: undefined } });
    assert.equal(c.listen, '127.0.0.1:6001');
  });

  test('bad flag values fail validation', () => {
    configError(() => loadConfig({ env: {}, overrides: { log: { level: 'chatty' } } }), /^configuration: log\.level/);
    configError(() => loadConfig({ env: {}, overrides: { bogus: true } }), /unknown key bogus/);
  });
});

describe('auth.passwordHashCost', () => {
  test('defaults to 15; BERTH_AUTH_PASSWORD_HASH_COST sets it', () => {
    assert.equal(loadConfig({ env: {} }).auth.passwordHashCost, 15);
    assert.equal(loadConfig({ env: { BERTH_AUTH_PASSWORD_HASH_COST: '10' } }).auth.passwordHashCost, 10);
  });

  test('the floor 10 and the ceiling 20 are enforced', () => {
    configError(() => loadConfig({ env: {}, overrides: { auth: { passwordHashCost: 9 } } }), /auth\.passwordHashCost/);
    configError(() => loadConfig({ env: { BERTH_AUTH_PASSWORD_HASH_COST: '4' } }), /auth\.passwordHashCost/);
    configError(() => loadConfig({ env: {}, overrides: { auth: { passwordHashCost: 21 } } }), /auth\.passwordHashCost/);
    configError(() => loadConfig({ env: {}, overrides: { auth: { passwordHashCost: 12.5 } } }), /auth\.passwordHashCost/);
  });
});

describe('storage.driver azure', () => {
  const CS = 'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/acct;';

  test('defaults: fs, and the azure settings empty with container berth, created when missing', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.storage.driver, 'fs');
    assert.equal(c.storage.azure.container, 'berth');
    assert.equal(c.storage.azure.createContainer, true);
    assert.equal(c.storage.azure.connectionString, '');
  });

  test('the contract variables and the --storage flag select and configure it', () => {
    const keys = Object.fromEntries(configKeys().map((k) => [k.path.join('.'), k.env]));
    assert.equal(keys['storage.azure.connectionString'], 'BERTH_STORAGE_AZURE_CONNECTION_STRING');
    assert.equal(keys['storage.azure.container'], 'BERTH_STORAGE_AZURE_CONTAINER');
    assert.equal(keys['storage.azure.createContainer'], 'BERTH_STORAGE_AZURE_CREATE_CONTAINER');
    const c = loadConfig({
      env: {
        BERTH_STORAGE_AZURE_CONNECTION_STRING: CS,
        BERTH_STORAGE_AZURE_CONTAINER: 'blobs-1',
        BERTH_STORAGE_AZURE_CREATE_CONTAINER: 'no',
      },
      overrides: { storage: { driver: 'azure' } },
    });
    assert.equal(c.storage.driver, 'azure');
    assert.equal(c.storage.azure.connectionString, CS);
    assert.equal(c.storage.azure.container, 'blobs-1');
    assert.equal(c.storage.azure.createContainer, false);
  });

  test('azure without credentials, with half of them, or with a bad container name fails naming the setting', () => {
    const azure = (a: Record<string, unknown>) => loadConfig({ env: {}, overrides: { storage: { driver: 'azure', azure: a } } });
    configError(() => azure({}), /no credentials.*storage\.azure\.connectionString \(BERTH_STORAGE_AZURE_CONNECTION_STRING\)/);
    configError(() => azure({ accountName: 'acct' }), /storage\.azure\.accountKey is missing/);
    configError(() => azure({ sasToken: 'sv=2024&sig=x' }), /storage\.azure\.sasToken needs storage\.azure\.accountName/);
    configError(() => azure({ connectionString: 'not one' }), /storage\.azure\.connectionString is not an Azure Storage connection string/);
    configError(() => azure({ connectionString: CS, container: 'Bad_Name' }), /storage\.azure\.container/);
    configError(() => azure({ connectionString: CS, endpoint: 'ftp://x' }), /storage\.azure\.endpoint/);
    assert.equal(azure({ accountName: 'acct', accountKey: 'a2V5' }).storage.azure.accountName, 'acct');
    assert.equal(azure({ sasToken: 'https://acct.blob.core.windows.net/?sv=2024&sig=x' }).storage.driver, 'azure');
    // the fs driver ignores the azure block entirely
    assert.equal(loadConfig({ env: {}, overrides: { storage: { azure: { accountName: 'acct' } } } }).storage.driver, 'fs');
  });

  test('config validate checks a file with azure, completed by the environment as at startup', () => {
    const f = file('azure.yaml', 'storage:\n  driver: azure\n  azure:\n    container: regblobs\n');
    configError(() => validateConfigFile(f, {}), /no credentials/);
    assert.equal(validateConfigFile(f, { BERTH_STORAGE_AZURE_CONNECTION_STRING: CS }).storage.azure.container, 'regblobs');
    configError(() => validateConfigFile(file('bad.yaml', 'storage:\n  azure:\n    bogus: 1\n'), {}), /storage\.azure\.bogus|bogus/);
  });
});

describe('regions (geo-replication)', () => {
  const two = `
dataDir: ${dir}/geo
regions:
  - name: westeurope
    url: https://westeurope.example.com
    storage: { path: ${dir}/geo-we }
  - name: eastus
    url: https://eastus.example.com
    storage: { path: ${dir}/geo-us }
`;

  test('a node joins the first region by default, or the one --region / BERTH_REGION names, and stores blobs in its store', () => {
    const f = file('regions.yaml', two);
    const first = loadConfig({ file: f, env: {} });
    assert.equal(first.region, 'westeurope');
    assert.equal(first.storage.path, `${dir}/geo-we`);
    const east = loadConfig({ file: f, env: { BERTH_REGION: 'eastus' } });
    assert.equal(east.region, 'eastus');
    assert.equal(east.storage.path, `${dir}/geo-us`);
    assert.equal(loadConfig({ file: f, env: {}, overrides: { region: 'eastus' } }).region, 'eastus');
    // Without regions: one region, named default.
    assert.equal(loadConfig({ env: {} }).region, 'default');
  });

  test("a region's azure secrets may come from its own variables", () => {
    const f = file(
      'azure-regions.yaml',
      two.replace(`storage: { path: ${dir}/geo-us }`, 'storage: { driver: azure, azure: { accountName: berthus, container: berth } }'),
    );
    configError(() => loadConfig({ file: f, env: { BERTH_REGION: 'eastus' } }), /region eastus: storage.azure.accountKey is missing/);
    const c = loadConfig({ file: f, env: { BERTH_REGION: 'eastus', BERTH_REGIONS_EASTUS_STORAGE_AZURE_ACCOUNT_KEY: 'a2V5' } });
    assert.equal(c.storage.azure.accountKey, 'a2V5');
    assert.equal(c.regions[1]!.storage.azure.accountKey, 'a2V5');
  });

  test('regions come from the environment as JSON too', () => {
    const c = loadConfig({
      env: {
        BERTH_REGIONS: JSON.stringify([
          { name: 'a1', url: 'http://a.example', storage: { path: `${dir}/ea` } },
          { name: 'b1', url: 'http://b.example', storage: { path: `${dir}/eb` } },
        ]),
      },
    });
    assert.deepEqual(
      c.regions.map((r) => r.name),
      ['a1', 'b1'],
    );
  });

  test('an undeclared region, twin regions and a top-level storage section are refused, naming the problem', () => {
    const f = file('regions.yaml', two);
    configError(
      () => loadConfig({ file: f, env: { BERTH_REGION: 'mars' } }),
      /region mars is not declared; the declared regions are westeurope, eastus/,
    );
    configError(() => loadConfig({ env: { BERTH_REGION: 'mars' } }), /no regions are declared/);
    configError(
      () => loadConfig({ file: file('dup.yaml', two.replace('name: eastus', 'name: westeurope')), env: {} }),
      /regions westeurope and westeurope have the same name/,
    );
    configError(
      () =>
        loadConfig({ file: file('dupurl.yaml', two.replace('https://eastus.example.com', 'https://westeurope.example.com/')), env: {} }),
      /regions westeurope and eastus have the same url/,
    );
    configError(
      () => loadConfig({ file: file('dupstore.yaml', two.replace(`${dir}/geo-us`, `${dir}/geo-we`)), env: {} }),
      /regions westeurope and eastus have the same storage .*: each region needs its own name, URL and blob store/,
    );
    configError(
      () => loadConfig({ file: file('both.yaml', `${two}storage: { path: /tmp/x }\n`), env: {} }),
      /remove the top-level storage section/,
    );
    configError(() => loadConfig({ file: f, env: { BERTH_STORAGE_DRIVER: 'azure' } }), /remove BERTH_STORAGE_\* variables/);
    configError(() => loadConfig({ file: f, env: {}, overrides: { storage: { driver: 'azure' } } }), /remove --storage or --storage-reads/);
    configError(() => validateConfig({ regions: [{ name: 'West Europe', url: 'https://x', storage: {} }] }, 'f'), /region names are/);
    configError(() => validateConfig({ regions: [{ name: 'we', url: 'ftp://x', storage: {} }] }, 'f'), /regions\[\]\.url must be an http/);
  });

  test('each region has its own data endpoint: {region} in dataEndpoint.url, or regions[].dataEndpoint.url', () => {
    const f = file('regions.yaml', two);
    const templated = loadConfig({ file: f, env: { BERTH_DATA_ENDPOINT_URL: 'https://{registry}.{region}.data.example.com' } });
    assert.deepEqual(
      [...dataEndpointTemplates(templated)],
      [
        ['westeurope', 'https://{registry}.westeurope.data.example.com'],
        ['eastus', 'https://{registry}.eastus.data.example.com'],
      ],
    );
    const own = loadConfig({
      file: file(
        'own.yaml',
        two.replace(
          'storage: { path: ' + dir + '/geo-us }',
          `storage: { path: ${dir}/geo-us }\n    dataEndpoint: { url: 'https://data.eastus.example.net' }`,
        ),
      ),
      env: { BERTH_DATA_ENDPOINT_URL: 'https://{registry}.{region}.data.example.com' },
    });
    assert.equal(dataEndpointTemplates(own).get('eastus'), 'https://data.eastus.example.net');
    assert.equal(dataEndpointTemplates(own).get('westeurope'), 'https://{registry}.westeurope.data.example.com');
    // One URL for every region, or none at all while the nodes have a data listener: refused.
    configError(
      () => loadConfig({ file: f, env: { BERTH_DATA_ENDPOINT_URL: 'https://{registry}.data.example.com' } }),
      /regions westeurope and eastus have the same data endpoint URL .*put \{region\} in dataEndpoint\.url/,
    );
    configError(
      () => loadConfig({ file: f, env: { BERTH_DATA_ENDPOINT_LISTEN: '0.0.0.0:5443' } }),
      /every region needs its data endpoint URL \(none for westeurope, eastus\)/,
    );
    // Without regions, {region} means nothing.
    configError(
      () => loadConfig({ env: { BERTH_DATA_ENDPOINT_URL: 'https://{registry}.{region}.data.example.com' } }),
      /uses \{region\}, but no regions are declared/,
    );
    assert.deepEqual([...dataEndpointTemplates(loadConfig({ env: {} }))], [['default', '']]);
  });
});
