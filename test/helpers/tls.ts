import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A throwaway self-signed certificate (P-256, one day) for 127.0.0.1 and `alt` names, made with
 * openssl; the cert file is its own CA file.
 */
export function selfSignedCert(
  dir: string,
  alt = 'IP:127.0.0.1,DNS:localhost',
): { cert: Buffer; key: Buffer; caFile: string; certFile: string; keyFile: string } {
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
      `subjectAltName=${alt}`,
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { cert: readFileSync(cert), key: readFileSync(key), caFile: cert, certFile: cert, keyFile: key };
}
