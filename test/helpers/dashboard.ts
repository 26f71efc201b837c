// Test helper for the dashboard's browser tests: the API called as the page's signed-in person,
// axe-core on the page as it is, and screenshots (into docs/ with SILLAGE_UPDATE_SCREENSHOTS).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT } from './server.js';

const AXE = fs.readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
const DOCS = process.env.SILLAGE_UPDATE_SCREENSHOTS
  ? path.join(ROOT, 'docs')
  : path.join(os.tmpdir(), 'sillage-dashboard-screenshots');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Fetches the API as the page's signed-in person (cookie + CSRF token). With `accept`, the body
 * comes back as text (CSV); otherwise as JSON, or null when empty.
 */
export async function pageApi(
  page: Page,
  method: string,
  url: string,
  body?: unknown,
  accept?: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked field by field
): Promise<{ status: number; body: any }> {
  return page.evaluate(
    async ({ method, url, body, accept }) => {
      const s = await (await fetch('/api/v1/auth/session')).json();
      const res = await fetch(url, {
        method,
        headers: {
          'content-type': 'application/json',
          'x-csrf-token': s.csrf_token,
          accept: accept ?? 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: accept ? text : text ? JSON.parse(text) : null };
    },
    { method, url, body, accept },
  );
}

/** axe-core on the page as it is: no serious or critical violation (`where` names the screen). */
export async function checkAccessibility(page: Page, where: string): Promise<void> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (...a: unknown[]) => Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  });
  expect(
    violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map(
        (v) =>
          `${where}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
      ),
  ).toEqual([]);
}

/** A full-page screenshot named `dashboard-<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(DOCS, { recursive: true });
  await page.screenshot({ path: path.join(DOCS, `dashboard-${name}.png`), fullPage: true });
}

/**
 * A virtual platform passkey for the page (Chrome DevTools Protocol), which signs in without a
 * prompt; returns the session and the authenticator's id (to read its credentials).
 */
export async function addVirtualPasskey(
  context: BrowserContext,
  page: Page,
): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}
