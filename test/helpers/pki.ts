import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// Certificates made with the openssl binary for signing tests: a root CA and code-signing leaves
// issued by it, as a company's signing PKI would be.

export interface Pki {
  dir: string;
  /** PEM files. */
  rootCert: string;
  rootKey: string;
}

export interface Leaf {
  key: string;
  cert: string;
  /** leaf then root, PEM: what `berth sign --cert` takes. */
  chain: string;
  subject: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed root CA (RSA 3072) named `cn`. */
export function makeRoot(dir: string, cn: string): Pki {
  const base = cn.replace(/\W+/g, '-').toLowerCase();
  const rootKey = path.join(dir, `${base}.key`);
  const rootCert = path.join(dir, `${base}.pem`);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:3072',
      '-nodes',
      '-keyout',
      rootKey,
      '-out',
      rootCert,
      '-days',
      '3650',
      '-subj',
      `/C=US/ST=WA/O=Acme/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { dir, rootCert, rootKey };
}

/** A leaf issued by the root: code signing unless `eku` says otherwise; `days` of validity; `ext`: more extension lines. */
export function makeLeaf(pki: Pki, cn: string, o: { eku?: string; keyType?: 'rsa' | 'ec'; days?: number; ext?: string } = {}): Leaf {
  const base = cn.replace(/\W+/g, '-').toLowerCase();
  const key = path.join(pki.dir, `${base}.key`);
  const csr = path.join(pki.dir, `${base}.csr`);
  const cert = path.join(pki.dir, `${base}.pem`);
  const ext = path.join(pki.dir, `${base}.ext`);
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${o.eku ?? 'codeSigning'}\n${o.ext ?? ''}`,
  );
  const newkey = o.keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:3072'];
  openssl(['req', ...newkey, '-nodes', '-keyout', key, '-out', csr, '-subj', `/C=US/ST=WA/O=Acme/CN=${cn}`], pki.dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.rootCert,
      '-CAkey',
      pki.rootKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      String(o.days ?? 365),
      '-extfile',
      ext,
    ],
    pki.dir,
  );
  const chain = path.join(pki.dir, `${base}-chain.pem`);
  writeFileSync(chain, readFileSync(cert, 'utf8') + readFileSync(pki.rootCert, 'utf8'));
  return { key, cert, chain, subject: `C=US, ST=WA, O=Acme, CN=${cn}` };
}
