// The sign-in and account-setup pages (web/): what a setup link opens, so that passkeys can be
// created and used in a real browser before the dashboard exists. Read once at start-up.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = path.join(ROOT, 'web');

/** Scripts, styles and API calls from this origin only; nothing inline, no frames, no forms out. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

interface Page {
  url: string;
  file: string;
  type: string;
}

/** The browser bundle of @simplewebauthn/browser (the library's own UMD build). */
function webauthnBundle(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  // …/node_modules/@simplewebauthn/browser/script/index.js → the package folder.
  return path.join(path.dirname(path.dirname(entry)), 'dist/bundle/index.umd.min.js');
}

export function registerPages(app: FastifyInstance): void {
  const pages: Page[] = [
    { url: '/setup', file: path.join(WEB, 'setup.html'), type: 'text/html; charset=utf-8' },
    { url: '/login', file: path.join(WEB, 'login.html'), type: 'text/html; charset=utf-8' },
    {
      url: '/assets/auth.js',
      file: path.join(WEB, 'auth.js'),
      type: 'text/javascript; charset=utf-8',
    },
    { url: '/assets/auth.css', file: path.join(WEB, 'auth.css'), type: 'text/css; charset=utf-8' },
    {
      url: '/assets/simplewebauthn-browser.js',
      file: webauthnBundle(),
      type: 'text/javascript; charset=utf-8',
    },
  ];
  for (const page of pages) {
    const body = fs.readFileSync(page.file);
    app.get(page.url, (_request, reply) => {
      void reply
        .header('Content-Type', page.type)
        .header('Content-Security-Policy', PAGE_CSP)
        .header('Cache-Control', page.type.startsWith('text/html') ? 'no-store' : 'no-cache');
      return reply.send(body);
    });
  }
}
