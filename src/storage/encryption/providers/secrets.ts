import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { KeyProviderConfigError } from './errors.js';

// Helpers the providers share: secrets from files (never echoed), and the CA bundle a provider on a
// private CA is reached with.

/** A secret from a file (a token, a client secret, a PIN), trailing newline dropped. Errors name the file, not the content. */
export function readSecretFile(keyId: string, setting: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KeyProviderConfigError(keyId, `cannot read ${setting} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: e,
    });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new KeyProviderConfigError(keyId, `${setting} ${file} is empty`);
  return secret;
}

/**
 * The public roots plus the certificates in caFile: a provider behind a private CA (or a TLS
 * inspecting proxy) is trusted without trusting that CA for everything else Berth connects to.
 */
export function caBundle(keyId: string, setting: string, caFile: string): string[] {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new KeyProviderConfigError(keyId, `cannot read ${setting} ${caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: e,
    });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new KeyProviderConfigError(keyId, `${setting} ${caFile} holds no PEM certificate`);
  return [...rootCertificates, pem];
}

/** The agent for a provider's HTTP(S) connections: keep-alive, and the CA bundle when one is set. */
export function providerAgent(protocol: 'http:' | 'https:', ca: string[] | undefined): http.Agent {
  return protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) }) : new http.Agent({ keepAlive: true });
}
