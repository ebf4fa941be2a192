import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A throwaway self-signed certificate for 127.0.0.1 made with openssl; the cert file is its own CA file. */
export function selfSignedCert(dir: string): { cert: Buffer; key: Buffer; caFile: string } {
  const cert = path.join(dir, 'server-cert.pem');
  const key = path.join(dir, 'server-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert: readFileSync(cert), key: readFileSync(key), caFile: cert };
}
