// Browser safety headers on a real listening server: a strict CSP with frame-ancestors 'none',
// no referrer, no caching of API answers, HSTS when Sillage is reached over HTTPS, and CORS on
// ingest routes only (the API answers no cross-origin request and no preflight).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcess } from './helpers/inprocess.js';

describe('security headers', () => {
  let plain: InProcess;
  let proxied: InProcess;
  beforeAll(async () => {
    plain = await startInProcess({ SILLAGE_PUBLIC_URL: 'http://localhost:8080' });
    // Behind a TLS-terminating proxy: the public URL is https.
    proxied = await startInProcess({ SILLAGE_PUBLIC_URL: 'https://analytics.example.com' });
  });
  afterAll(async () => {
    await plain.close();
    await proxied.close();
  });

  it('sends the strict headers on API answers', async () => {
    const res = await fetch(`${plain.server.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('strict-transport-security')).toBeNull();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets the sign-in pages load their own scripts and styles only', async () => {
    for (const page of ['/login', '/setup']) {
      const res = await fetch(`${plain.server.url}${page}`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).not.toMatch(/<script>|on(click|submit|load)=/);
    }
  });

  it('serves the dashboard at / under the same CSP, with nothing inline', async () => {
    const res = await fetch(`${plain.server.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    // Every script and stylesheet is a file of this origin; no inline code or style.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc="\/static\/)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const assets = [...html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      const a = await fetch(`${plain.server.url}${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('content-security-policy')).toBe(csp);
      expect(a.headers.get('cache-control')).toContain('immutable');
      expect(await a.text()).not.toMatch(/https?:\/\/(?!localhost)[a-z0-9.-]+\.(?:com|net|io)\//);
    }
  });

  it('sends HSTS when the public URL is https', async () => {
    const res = await fetch(`${proxied.server.url}/api/v1/openapi.json`);
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d{8,}/);
  });

  it('answers CORS on ingest routes only', async () => {
    const origin = 'https://shop.example.com';
    const ingest = await fetch(`${plain.server.url}/track`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(ingest.status).toBe(204);
    expect(ingest.headers.get('access-control-allow-origin')).toBe(origin);
    // The ingest answer stays readable cross-origin (no same-origin CORP on it).
    expect(ingest.headers.get('cross-origin-resource-policy')).toBeNull();

    const api = await fetch(`${plain.server.url}/api/v1/auth/login`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(api.headers.get('access-control-allow-origin')).toBeNull();
    const login = await fetch(`${plain.server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@example.com', password: 'whatever it is here' }),
    });
    expect(login.headers.get('access-control-allow-origin')).toBeNull();
    expect(login.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
