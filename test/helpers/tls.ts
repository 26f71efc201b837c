// Test helper: HTTPS for SDKs that insist on it (mixpanel-node sends the project secret only over
// HTTPS): a throwaway self-signed certificate for 127.0.0.1, a `sillage serve` with TLS on, and a
// way to make this test process trust that one certificate for that one port.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { startServerProcess, type ServerProcess, type TestEnv } from './server.js';

export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  /** PEM text of the certificate (it is its own CA). */
  certPem: string;
}

/**
 * Creates a 1-day self-signed RSA certificate for IP 127.0.0.1 (and the DNS names given, for an
 * SDK whose host name is fixed) with the system's openssl.
 */
export function makeSelfSignedCert(dir: string, dnsNames: string[] = []): SelfSignedCert {
  const certFile = path.join(dir, 'tls-cert.pem');
  const keyFile = path.join(dir, 'tls-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      `subjectAltName=${['IP:127.0.0.1', ...dnsNames.map((name) => `DNS:${name}`)].join(',')}`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8') };
}

function healthz(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${url}/healthz`, { ca, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Like `startServerProcess`, with SILLAGE_TLS_CERT/KEY set, waiting for `https://…/healthz`. */
export function startTlsServerProcess(
  t: TestEnv,
  cert: SelfSignedCert,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<ServerProcess> {
  return startServerProcess(t, {
    env: { SILLAGE_TLS_CERT: cert.certFile, SILLAGE_TLS_KEY: cert.keyFile, ...options.env },
    scheme: 'https',
    healthz: (url) => healthz(url, cert.certPem),
  });
}

type CreateConnection = (
  options: https.RequestOptions,
  callback?: (err: Error | null, socket: Duplex) => void,
) => Duplex;

/**
 * Makes every `https.Agent` of this process trust `certPem` for connections to 127.0.0.1:`port`
 * only, with certificate verification left on. Needed because SDKs such as mixpanel-node build
 * their own `https.Agent` with no way to pass a CA, and NODE_EXTRA_CA_CERTS is read only at process
 * start. (The blunter NODE_TLS_REJECT_UNAUTHORIZED=0 would switch verification off altogether.)
 * Returns the function that undoes it. Vitest runs each test file in its own process ('forks').
 */
export function trustCertificateForPort(certPem: string, port: number): () => void {
  const proto = https.Agent.prototype as unknown as { createConnection: CreateConnection };
  const original = proto.createConnection;
  proto.createConnection = function patched(this: https.Agent, options, callback) {
    const target = options.port === undefined || options.port === null ? NaN : Number(options.port);
    const host = options.host ?? options.hostname;
    const withCa = host === '127.0.0.1' && target === port ? { ...options, ca: certPem } : options;
    return original.call(this, withCa, callback);
  };
  return () => {
    proto.createConnection = original;
  };
}

/**
 * Sends this process's TLS connections for `hostname` to 127.0.0.1:`port`, trusting `certPem`
 * there, with the host name still sent as SNI and checked against the certificate (which must
 * name it): what an /etc/hosts line and an installed CA do for a package whose API host is fixed
 * in its code (mixpanel-import). Every HTTPS client goes through `tls.connect` (undici and
 * `https.Agent` alike); other hosts are untouched. Returns the function that undoes it.
 */
export function routeHostToLoopback(hostname: string, port: number, certPem: string): () => void {
  const original = tls.connect;
  const patched = function connect(this: unknown, ...args: unknown[]): tls.TLSSocket {
    const [first] = args;
    if (typeof first === 'object' && first !== null) {
      const options = first as tls.ConnectionOptions;
      if (options.host === hostname || options.servername === hostname) {
        const rerouted: tls.ConnectionOptions = {
          ...options,
          host: '127.0.0.1',
          port,
          servername: hostname,
          ca: certPem,
        };
        return (original as (...a: unknown[]) => tls.TLSSocket).call(
          this,
          rerouted,
          ...args.slice(1),
        );
      }
    }
    return (original as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
  };
  (tls as { connect: unknown }).connect = patched;
  return () => {
    (tls as { connect: unknown }).connect = original;
  };
}
