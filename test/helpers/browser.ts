// Test helper: real Chromium (Debian's, through playwright-core) on loopback only, a tiny static
// web site to host SDK pages, and a log of every request the page sends to Sillage.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { decodeWire, type WireRequest } from './wire.js';
import { pollUntil } from './wait.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** A desktop Chrome on Windows, to model real visitors (headless Chromium says "HeadlessChrome"). */
export const DESKTOP_CHROME_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/**
 * Makes `navigator.webdriver` false, as for a person's browser. Playwright starts Chromium with
 * `--enable-automation`, and posthog-js drops every event of a browser whose `navigator.webdriver`
 * is true (its bot filter), so without this a posthog-js test would see nothing sent.
 */
export const NOT_WEBDRIVER = '--disable-blink-features=AutomationControlled';

/**
 * Launches headless Chromium. `hosts` are names resolved to 127.0.0.1 (so that pages have real
 * host names, as on a customer's site); every other name fails to resolve, so the browser can
 * reach nothing but loopback.
 */
export async function launchChromium(
  hosts: readonly string[],
  extraArgs: readonly string[] = [],
): Promise<Browser> {
  const rules = [
    ...hosts.map((h) => `MAP ${h} 127.0.0.1`),
    'MAP * ~NOTFOUND',
    'EXCLUDE 127.0.0.1',
  ].join(', ');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=${rules}`,
      ...extraArgs,
    ],
    timeout: 30_000,
  });
}

export interface StaticFile {
  contentType: string;
  body: string | Buffer;
}

export interface StaticSite {
  port: number;
  /** `http://<host>:<port>` for one of the names given to {@link launchChromium}. */
  origin(host: string): string;
  close(): Promise<void>;
}

/** Serves fixed files by path (query strings ignored) on 127.0.0.1. */
export async function startStaticSite(files: Record<string, StaticFile>): Promise<StaticSite> {
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const file = files[pathname];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res
      .writeHead(200, { 'content-type': file.contentType, 'cache-control': 'no-store' })
      .end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: (host) => `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Records every request a page sends to one origin (Sillage), decoded, once its response is
 * complete. Also keeps the page's uncaught errors, which usually explain a missing request.
 */
export class WireLog {
  readonly requests: WireRequest[] = [];
  readonly pageErrors: string[] = [];
  private inFlight = 0;

  constructor(
    page: Page,
    private readonly origin: string,
  ) {
    page.on('pageerror', (error) => this.pageErrors.push(error.message));
    page.on('request', (request) => {
      if (this.matches(request)) this.inFlight++;
    });
    page.on('requestfinished', (request) => {
      if (this.matches(request)) void this.finish(request, false);
    });
    page.on('requestfailed', (request) => {
      if (this.matches(request)) void this.finish(request, true);
    });
  }

  private matches(request: Request): boolean {
    return request.url().startsWith(this.origin + '/');
  }

  private async finish(request: Request, failed: boolean): Promise<void> {
    try {
      const response = failed ? null : await request.response();
      const responseText = response ? await response.text().catch(() => '') : '';
      this.requests.push(
        decodeWire({
          method: request.method(),
          url: request.url(),
          headers: await request.allHeaders(),
          body: request.postDataBuffer() ?? Buffer.alloc(0),
          status: response?.status() ?? 0,
          responseText,
        }),
      );
    } finally {
      this.inFlight--;
    }
  }

  /** Records delivered (HTTP 200) to paths starting with `pathPrefix`, in arrival order. */
  delivered(pathPrefix: string): Array<Record<string, unknown>> {
    return this.requests
      .filter((r) => r.path.startsWith(pathPrefix) && r.status === 200)
      .flatMap((r) => r.records);
  }

  /** Waits until `ready` holds for the completed requests and none is still in flight. */
  async waitFor(
    what: string,
    ready: (requests: readonly WireRequest[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<void> {
    await pollUntil(
      `${what} (page errors: ${this.pageErrors.join('; ') || 'none'})`,
      () => this.inFlight === 0 && ready(this.requests),
      { timeoutMs },
    );
  }

  /**
   * Waits until at least `count` records reached `pathPrefix` with HTTP 200 and no request to
   * the origin is still in flight.
   */
  async waitForDelivered(pathPrefix: string, count: number, timeoutMs = 20_000): Promise<void> {
    await pollUntil(
      `${count} record(s) delivered to ${pathPrefix} (page errors: ${this.pageErrors.join('; ') || 'none'})`,
      () => this.inFlight === 0 && this.delivered(pathPrefix).length >= count,
      { timeoutMs },
    );
  }
}
