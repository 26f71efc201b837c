// The web pages: the dashboard (the Vite build in web/dist, served at `/` with its hashed assets
// under /static/) and the plain sign-in and account-setup pages (web/*.html) that a setup link
// opens. Everything is read once at start-up and served under the same strict CSP.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = path.join(ROOT, 'web');
/** Where `npm run build` puts the dashboard (see web/vite.config.ts). */
export const DASHBOARD_DIR = path.join(WEB, 'dist');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

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

/** Every file under `dir` (recursively), as paths relative to it with forward slashes. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`)
        : [`${prefix}${entry.name}`],
    );
}

/**
 * The dashboard: `/` answers the app's index.html (never cached, so a new build is picked up at
 * once); its assets carry a content hash in their names, so they are cached for a year.
 */
function registerDashboard(app: FastifyInstance, dir: string): void {
  const index = path.join(dir, 'index.html');
  const built = fs.existsSync(index) ? fs.readFileSync(index) : null;
  app.get('/', (_request, reply) => {
    void reply.header('Content-Security-Policy', PAGE_CSP).header('Cache-Control', 'no-store');
    if (!built) {
      return reply
        .code(503)
        .header('Content-Type', 'text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` (npm start does it).\n');
    }
    return reply.header('Content-Type', 'text/html; charset=utf-8').send(built);
  });
  for (const file of filesUnder(path.join(dir, 'static'))) {
    const type = TYPES[path.extname(file)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(dir, 'static', file));
    app.get(`/static/${file}`, (_request, reply) => {
      void reply
        .header('Content-Type', type)
        .header('Content-Security-Policy', PAGE_CSP)
        .header('Cache-Control', 'public, max-age=31536000, immutable');
      return reply.send(body);
    });
  }
}

export function registerPages(app: FastifyInstance, dashboardDir = DASHBOARD_DIR): void {
  registerDashboard(app, dashboardDir);
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
