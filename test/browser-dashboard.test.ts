// The dashboard in a real browser (Debian's Chromium, virtual WebAuthn authenticator): enrol from
// the setup link, sign in with the passkey, build a trend, a funnel and a retention grid and check
// every number shown against the API, save a report to the board, send a test event from Setup,
// create a secret key through the step-up prompt in a second browser signed in with a recovery
// code, revoke that browser's session from the first and see it signed out, add a passkey to an
// account enrolled with an authenticator app (which then signs in with a code), renew the
// recovery codes and read the security notices, then lock down. Every screen fits 1280 px and a
// phone and passes axe-core with no serious or critical violation; a screen says when it is
// loading and what to do when the server cannot be reached; nothing violates the CSP; each main
// screen is photographed into docs/ for the README.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, CDPSession, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/auth/totp.js';
import { launchChromium, startStaticSite, type StaticSite } from './helpers/browser.js';
import {
  createProject,
  freePort,
  makeTestEnv,
  ROOT,
  runCli,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
} from './helpers/server.js';
import { SCREENS } from '../web/app/router.js';
import { pollUntil } from './helpers/wait.js';
import {
  addVirtualPasskey,
  checkAccessibility as axeCheck,
  pageApi,
  screenshot,
} from './helpers/dashboard.js';

const EMAIL = 'owner@example.com';
const PASSWORD = 'velvet compass 4417 under rain';
const VIEWER = 'viewer@example.com';
const DAY_MS = 86_400_000;
// The README's screenshots are refreshed with SILLAGE_UPDATE_SCREENSHOTS=1; other runs write them
// to the temporary folder, so a test run leaves the working tree as it was.
/** The real mixpanel-browser bundle, served by a customer's test page (see the Live events test). */
const MIXPANEL = fs.readFileSync(
  path.join(ROOT, 'node_modules/mixpanel-browser/dist/mixpanel.umd.js'),
);
const SHOP = 'shop.example';

const day = (offset: number): string =>
  new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);

/**
 * Six users over the last seven days (UTC, the project's zone): who viewed, signed up and bought
 * when. Offsets are days before today; events of one day keep this order.
 */
const JOURNEYS: [user: string, event: string, daysAgo: number, price?: number][] = [
  ['u1', 'Page View', 6],
  ['u1', 'Signed Up', 6],
  ['u1', 'Purchase', 5, 30],
  ['u1', 'Page View', 4],
  ['u2', 'Page View', 6],
  ['u2', 'Signed Up', 5],
  ['u2', 'Page View', 3],
  ['u3', 'Page View', 5],
  ['u3', 'Signed Up', 5],
  ['u3', 'Purchase', 5, 12],
  ['u4', 'Page View', 4],
  ['u5', 'Page View', 2],
  ['u5', 'Signed Up', 2],
  ['u5', 'Page View', 1],
  ['u6', 'Page View', 0],
  ['u6', 'Signed Up', 0],
];

describe('the dashboard in Chromium', () => {
  let server: ServerProcess;
  let site: StaticSite;
  let project: CreatedProject;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let other: BrowserContext | undefined;
  let otherPage: Page | undefined;
  let cdp: CDPSession;
  let origin = '';
  let authenticatorId = '';
  let setupLink = '';
  let recoveryCodes: string[] = [];
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const api = (p: Page, method: string, url: string, body?: unknown) =>
    pageApi(p, method, url, body);

  const watch = (p: Page): void => {
    p.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    p.on('pageerror', (e) => pageErrors.push(e.message));
  };

  const checkAccessibility = axeCheck;
  const shot = screenshot;

  /** Rows of the result table: the row header, then each cell's exact value. */
  const tableRows = (p: Page, scope = '.result .table-wrap'): Promise<string[][]> =>
    p.$$eval(`${scope} table tbody tr`, (rows) =>
      rows.map((r) =>
        [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim() ?? ''),
      ),
    );

  /** The signed-in person's (only) organisation, as the session answers it. */
  const orgIdOf = (p: Page): Promise<string> =>
    p.evaluate(
      async () => (await (await fetch('/api/v1/auth/session')).json()).organisations[0].id,
    );

  const screen = (name: string): string => `${origin}/#/p/${project.project_id}/${name}`;

  /**
   * Waits until every section of the Security screen has loaded. A click lands where its button
   * was when pressed: a section that finishes loading between the press and the release moves
   * the button away, and the click is lost without a trace (nothing sent, no error shown) — what
   * one full-suite run saw as an invitation link that never came.
   */
  const securityLoaded = async (p: Page): Promise<void> => {
    await p.waitForSelector('#security-title');
    await p.waitForFunction(() => document.querySelector('main .loading') === null);
  };

  /**
   * Waits for `done`; if the API asks for a step-up on the way (the passkey sign-in counts as one
   * for 5 minutes, so usually it does not), confirms it with the page's passkey.
   */
  const confirmingStepUp = async (p: Page, done: string): Promise<void> => {
    const first = await Promise.race([
      p.waitForSelector(done, { timeout: 20_000 }).then(() => 'done'),
      p.waitForSelector('dialog[open]', { timeout: 20_000 }).then(() => 'dialog'),
    ]);
    if (first === 'dialog') {
      await p.click('dialog[open] button:has-text("Confirm with passkey")');
      await p.waitForSelector(done, { timeout: 20_000 });
    }
  };

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    const t = makeTestEnv({ SILLAGE_PUBLIC_URL: origin });
    server = await startServerProcess(t, { port });
    const created = JSON.parse(
      await runCli(t, ['admin', 'create', '--email', EMAIL, '--org', 'Acme', '--json']),
    ) as { setup_link: string };
    setupLink = created.setup_link;
    project = await createProject(t, 'Shop');

    // The journeys, through the Mixpanel import route with the project secret.
    const now = Date.now();
    const events = JOURNEYS.map(([user, event, daysAgo, price], i) => ({
      event,
      properties: {
        token: project.token,
        time: now - daysAgo * DAY_MS - (JOURNEYS.length - i) * 1000,
        distinct_id: user,
        $insert_id: `seed-${i}`,
        ...(price === undefined ? {} : { price }),
        // One visitor typed an e-mail address into a form field: the privacy stage redacts it.
        ...(user === 'u4' ? { note: 'write to jane.doe@example.com' } : {}),
      },
    }));
    const res = await fetch(`${server.url}/import`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${project.secret}:`).toString('base64')}`,
      },
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(200);

    site = await startStaticSite({
      '/sdk/mixpanel.js': { contentType: 'text/javascript', body: MIXPANEL },
      '/checkout': {
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><html lang="en"><head><title>Checkout</title><script src="/sdk/mixpanel.js"></script></head><body><h1>Checkout</h1></body></html>',
      },
    });
    browser = await launchChromium(['localhost', SHOP]);
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    watch(page);
    ({ cdp, authenticatorId } = await addVirtualPasskey(context, page));
  }, 90_000);

  // On a failure, what each browser showed (in the system's temporary folder).
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const name = ctx.task.name.replace(/\W+/g, '-').slice(0, 60);
    for (const [who, p] of [
      ['first', page],
      ['second', otherPage],
    ] as const) {
      await p?.screenshot({
        path: path.join(os.tmpdir(), `dashboard-${name}-${who}.png`),
        fullPage: true,
      });
    }
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await server?.stop('SIGKILL');
  });

  it('enrols from the setup link and opens the dashboard', async () => {
    await page.goto(setupLink);
    await page.fill('#password', PASSWORD);
    await page.click('#password-form button');
    await page.waitForSelector('#factor:not([hidden])');
    await page.click('#passkey-button');
    await page.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    recoveryCodes = ((await page.textContent('#codes')) ?? '').trim().split('\n');
    expect(recoveryCodes).toHaveLength(10);
    await shot(page, 'enrolment');
    await page.click('text=Open the dashboard');
    // The app opens the organisation's first project.
    await page.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]');
    expect(page.url()).toContain(`#/p/${project.project_id}/insights`);
    expect(await page.textContent('.who')).toContain(EMAIL);
  });

  it('signs out, and signs in again with the passkey', async () => {
    await page.click('text=Sign out');
    await page.waitForSelector('#signin-email');
    await checkAccessibility(page, 'sign-in');
    await shot(page, 'sign-in');
    await page.fill('#signin-email', EMAIL);
    await page.fill('#signin-password', 'not the password at all');
    await page.click('button:has-text("Continue")');
    await page.waitForSelector('[role="alert"]');
    await page.fill('#signin-password', PASSWORD);
    await page.click('button:has-text("Continue")');
    await page.click('button:has-text("Use your passkey")');
    await page.waitForSelector('.who', { timeout: 15_000 });
    expect(await page.textContent('.who')).toContain(EMAIL);
  });

  it('builds a trend whose every number is the API answer', async () => {
    // Wait until the import is queryable.
    await pollUntil('seeded events queryable', async () => {
      const r = await api(page, 'GET', `/api/v1/projects/${project.project_id}/events`);
      return r.body.events?.length === 3;
    });
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Page View');
    await page.getByLabel('Measure', { exact: true }).selectOption('unique_users');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    await page.waitForFunction(
      () => document.querySelectorAll('.result .table-wrap tbody tr').length === 8,
    );
    const shown = await tableRows(page);
    const expected = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'trends',
      from: day(-6),
      to: day(0),
      interval: 'day',
      series: [{ event: 'Page View', math: 'unique_users' }],
    });
    expect(expected.status).toBe(200);
    const series = expected.body.series[0];
    expect(shown).toEqual([
      ...series.labels.map((label: string, i: number) => [label, String(series.values[i])]),
      ['Total', String(series.total)],
    ]);
    // Six distinct users viewed a page over the week.
    expect(series.total).toBe(6);
    await checkAccessibility(page, 'insights (table)');
    await page.getByLabel('Show as', { exact: true }).selectOption('line');
    await page.waitForSelector('.result .chart canvas');
    await checkAccessibility(page, 'insights (chart)');
    await shot(page, 'insights');

    // A breakdown-free bar chart of two series, saved to the board.
    await page.click('button:has-text("Add series")');
    await page.getByLabel('Event B', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('Show as', { exact: true }).selectOption('bar');
    await page.waitForFunction(
      () => document.querySelectorAll('.result .u-legend .u-series').length === 3,
    );
    await page
      .getByLabel('Save this report to the board as', { exact: true })
      .fill('Views and sign-ups');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');
  });

  it('breaks a trend down by a property, one column per value as the API answers', async () => {
    // A fresh report (the previous one lives in the address until it is left).
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Purchase');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('price');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    const expected = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'trends',
      from: day(-6),
      to: day(0),
      interval: 'day',
      series: [{ event: 'Purchase', math: 'total' }],
      breakdown: 'price',
    });
    const series = expected.body.series as { breakdown_value: string; values: number[] }[];
    expect(series.map((x) => x.breakdown_value).sort()).toEqual(['12', '30']);
    await page.waitForFunction(
      (n) => document.querySelectorAll('.result .table-wrap thead th').length === n,
      1 + series.length,
    );
    const header = await page.$$eval('.result .table-wrap thead th', (ths) =>
      ths.map((t) => t.textContent),
    );
    expect(header.slice(1)).toEqual(
      series.map((x) => `Purchase · Total events · ${x.breakdown_value}`),
    );
    const shown = await tableRows(page);
    expect(shown.slice(0, 7).map((r) => r.slice(1))).toEqual(
      expected.body.series[0].labels.map((_: string, i: number) =>
        series.map((x) => String(x.values[i])),
      ),
    );
  });

  it('filters a trend on an event property, per week, as the API answers the body it sends', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Purchase');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('30d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    await page.getByLabel('Interval', { exact: true }).selectOption('week');
    await page.click('button:has-text("Add filter")');
    const filter = page.getByRole('group', { name: 'filter 1', exact: true });
    await filter.getByLabel('Property', { exact: true }).selectOption('price');
    await filter.getByLabel('Operator', { exact: true }).selectOption('gt');
    // The last query the screen sends is the one it shows.
    const sent: Record<string, unknown>[] = [];
    const onRequest = (r: Request): void => {
      if (r.method() === 'POST' && r.url().endsWith(`/projects/${project.project_id}/query`))
        sent.push(r.postDataJSON() as Record<string, unknown>);
    };
    page.on('request', onRequest);
    await filter.getByLabel('Value', { exact: true }).fill('20');
    await pollUntil('the filtered query sent', () =>
      JSON.stringify(sent.at(-1)?.filters ?? null).includes('"gt"'),
    );
    await page.waitForLoadState('networkidle');
    page.off('request', onRequest);
    const body = sent.at(-1)!;
    expect(body).toMatchObject({
      kind: 'trends',
      interval: 'week',
      series: [{ event: 'Purchase', math: 'total' }],
      filters: [{ property: 'price', op: 'gt', value: 20 }],
    });
    const expected = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, body);
    expect(expected.status).toBe(200);
    const series = expected.body.series[0];
    // Only u1's purchase (30) is over 20; u3's (12) is not.
    expect(series.total).toBe(1);
    await page.waitForFunction((total) => {
      const rows = document.querySelectorAll('.result .table-wrap tbody tr');
      return rows[rows.length - 1]?.lastElementChild?.getAttribute('data-value') === total;
    }, String(series.total));
    expect(await tableRows(page)).toEqual([
      ...series.labels.map((label: string, i: number) => [label, String(series.values[i])]),
      ['Total', String(series.total)],
    ]);
    // Weeks, not days: at most 6 rows for 30 days.
    expect(series.labels.length).toBeLessThanOrEqual(6);
  });

  it('builds a funnel whose conversion bars and table match the API', async () => {
    await page.goto(screen('funnels'));
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Step 1', { exact: true }).selectOption('Page View');
    await page.getByLabel('Step 2', { exact: true }).selectOption('Signed Up');
    await page.click('button:has-text("Add step")');
    await page.getByLabel('Step 3', { exact: true }).selectOption('Purchase');
    // The conversion table (the time-to-convert table follows it).
    await page.waitForFunction(
      () => document.querySelectorAll('.result > .table-wrap tbody tr').length === 3,
    );
    const shown = await tableRows(page, '.result > .table-wrap');
    const expected = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'funnel',
      from: day(-6),
      to: day(0),
      steps: [{ event: 'Page View' }, { event: 'Signed Up' }, { event: 'Purchase' }],
      window_seconds: 7 * 86_400,
    });
    const counts = expected.body.steps.map((s: { count: number }) => s.count);
    expect(shown.map((r) => r[1])).toEqual(counts.map(String));
    // Dropped off = previous step's users minus this step's.
    expect(shown.map((r) => r[4])).toEqual(
      counts.map((c: number, i: number) => String(i === 0 ? 0 : counts[i - 1] - c)),
    );
    expect(counts).toEqual([6, 5, 2]);
    expect(await page.textContent('.headline')).toContain('33.3%');
    await page.waitForSelector('.result .chart canvas');
    await checkAccessibility(page, 'funnels');
    await shot(page, 'funnels');
  });

  it('builds a retention grid whose cells match the API', async () => {
    await page.goto(screen('retention'));
    await page.getByLabel('Users who did', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('and came back to do', { exact: true }).selectOption('Page View');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Periods shown', { exact: true }).fill('5');
    await page.getByLabel('Periods shown', { exact: true }).press('Tab');
    const expected = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'retention',
      from: day(-6),
      to: day(0),
      start_event: 'Signed Up',
      return_event: 'Page View',
      period: 'day',
      periods: 5,
    });
    const cohorts = expected.body.cohorts as { start: string; size: number; counts: number[] }[];
    // Cohort rows, with the size and periods 0 to 5 as columns.
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('.result .table-wrap tbody tr').length === n &&
        document.querySelectorAll('.result .table-wrap thead th').length === 2 + 6,
      cohorts.length,
    );
    const shown = await tableRows(page);
    const pct = (n: number, size: number): string =>
      size > 0 ? `${((100 * n) / size).toFixed(1)}% (${n})` : `– (${n})`;
    expect(shown).toEqual(
      cohorts.map((c) => [c.start, String(c.size), ...c.counts.map((n) => pct(n, c.size))]),
    );
    // u1 signed up 6 days ago and came back 2 days later.
    const first = cohorts.find((c) => c.start === day(-6));
    expect(first?.counts.slice(0, 3)).toEqual([1, 0, 1]);
    // The heat map shades a full cohort darker than an empty one.
    const shades = await page.$$eval('.result td.heat', (cells) =>
      cells.map((c) => getComputedStyle(c).backgroundColor),
    );
    expect(new Set(shades).size).toBeGreaterThan(1);
    await checkAccessibility(page, 'retention');
    await shot(page, 'retention');
  });

  it('shows the saved report on the board, run through the API', async () => {
    await page.goto(screen('boards'));
    await page.waitForSelector('.card h2:has-text("Views and sign-ups")');
    await page.waitForSelector('.card .chart canvas');
    const totals = await tableRows(page, '.card .table-wrap');
    expect(totals[0]?.slice(1)).toEqual(['6', '5']);
    await checkAccessibility(page, 'boards');
    await shot(page, 'boards');
  });

  it('says it is loading, and what to do when the server cannot be reached, then retries', async () => {
    const views = `**/api/v1/projects/${project.project_id}/views`;
    // The board's list held back: the screen says what it is loading.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(views, async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(screen('boards'));
    await page.reload();
    await page.waitForSelector('[role="status"]:has-text("Loading saved reports")');
    release();
    await page.waitForSelector('.card h2:has-text("Views and sign-ups")');
    await page.unroute(views);
    // The network down: an error that says what to do, and a Retry that works once it is back.
    await page.route(views, (route) => route.abort('connectionrefused'));
    await page.reload();
    const alert = page.locator('main [role="alert"]');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Sillage cannot be reached');
    expect(await alert.textContent()).toContain('Check that the Sillage server is running');
    await checkAccessibility(page, 'boards (server unreachable)');
    await page.unroute(views);
    await alert.locator('button:has-text("Retry")').click();
    await page.waitForSelector('.card h2:has-text("Views and sign-ups")');
    expect(await page.isVisible('main [role="alert"]')).toBe(false);
  });

  it('invites a viewer, who sets up with an authenticator app and sees the board only', async () => {
    await page.goto(screen('security'));
    await securityLoaded(page);
    await page.getByLabel('E-mail address', { exact: true }).fill(VIEWER);
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.click('button:has-text("Create invitation link")');
    // The passkey sign-in counts as a step-up for 5 minutes; later, the app would prompt.
    await page.waitForSelector('#invitation-link', { timeout: 15_000 });
    const link = ((await page.textContent('#invitation-link')) ?? '').trim();
    expect(link).toContain('/setup#token=');

    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const viewer = await viewerContext.newPage();
    watch(viewer);
    await viewer.goto(link);
    await viewer.fill('#password', 'plum harbour 2290 before dawn');
    await viewer.click('#password-form button');
    await viewer.click('#totp-button');
    await viewer.waitForSelector('#totp:not([hidden])');
    const secret = await pollUntil('the TOTP secret shown', async () =>
      ((await viewer.textContent('#totp-secret')) ?? '').trim(),
    );
    const enrolledAt = Date.now();
    await viewer.fill('#totp-code', await totpCode(secret, enrolledAt));
    await viewer.click('#totp-form button');
    await viewer.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    await viewer.click('text=Open the dashboard');
    // A viewer's navigation has the board and the security page; reports open the board.
    await viewer.waitForSelector('.card h2:has-text("Views and sign-ups")');
    const nav = await viewer.$$eval('nav[aria-label="Main"] a', (as) =>
      as.map((a) => a.textContent),
    );
    expect(nav).toEqual(['Boards', 'Security']);
    await viewer.waitForSelector('.card .table-wrap tbody tr');
    expect((await tableRows(viewer, '.card .table-wrap'))[0]?.slice(1)).toEqual(['6', '5']);
    expect(await viewer.isVisible('text=Save to board')).toBe(false);
    expect(await viewer.isVisible('button:has-text("Remove")')).toBe(false);
    await checkAccessibility(viewer, 'boards (viewer)');
    // The API, not only the menu, keeps the viewer to saved views.
    const adHoc = await api(viewer, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'trends',
      from: day(-6),
      to: day(0),
      series: [{ event: 'Page View' }],
    });
    expect(adHoc.status).toBe(403);

    // The viewer enrolled with an authenticator app only: Security, Your account says so and
    // adds a passkey (after a code, it counts only from a day later, and the screen says when).
    await viewer.click('nav a:has-text("Security")');
    await securityLoaded(viewer);
    await viewer.waitForSelector('#factor-list li');
    expect(await viewer.textContent('#no-passkey')).toContain('no passkey yet');
    await addVirtualPasskey(viewerContext, viewer);
    await viewer.getByLabel('Name for a new passkey', { exact: true }).fill('Viewer laptop');
    await viewer.click('button:has-text("Add a passkey")');
    await viewer.waitForSelector('#account-done:has-text("Viewer laptop")', { timeout: 15_000 });
    await viewer.waitForSelector('#factor-list li[data-factor="passkey"]');
    const account = await api(viewer, 'GET', '/api/v1/me');
    const passkey = account.body.factors.find((f: { kind: string }) => f.kind === 'passkey');
    expect(passkey.label).toBe('Viewer laptop');
    expect(Date.parse(passkey.usable_from)).toBeGreaterThan(Date.now() + 23 * 3_600_000);
    expect(
      await viewer.$$eval('#factor-list li', (li) => li.map((l) => l.getAttribute('data-factor'))),
    ).toEqual(account.body.factors.map((f: { kind: string }) => f.kind));
    expect(await viewer.textContent('#factor-list li[data-factor="passkey"]')).toContain(
      'counts from',
    );
    expect(await viewer.isVisible('#no-passkey')).toBe(false);
    // The account is told, in the notices the e-mails point to.
    await viewer.reload();
    await viewer.waitForSelector('#notice-list li[data-notice="factor_added"]');
    await checkAccessibility(viewer, 'security (viewer, your account)');

    // Sign-in's fallback: the authenticator app's code. A code counts once, so the next one.
    await pollUntil(
      'the next authenticator code',
      () => Math.floor(Date.now() / 30_000) > Math.floor(enrolledAt / 30_000),
      { timeoutMs: 35_000, intervalMs: 250 },
    );
    await viewer.click('text=Sign out');
    await viewer.fill('#signin-email', VIEWER);
    await viewer.fill('#signin-password', 'plum harbour 2290 before dawn');
    await viewer.click('button:has-text("Continue")');
    await viewer.fill('#signin-code', await totpCode(secret, Date.now()));
    await viewer.click('button:has-text("Sign in with the code")');
    await viewer.waitForSelector('.who', { timeout: 15_000 });
    expect(await viewer.textContent('.who')).toContain(VIEWER);
    expect((await api(viewer, 'GET', '/api/v1/auth/session')).body.session.method).toBe('totp');
    await viewerContext.close();
  }, 180_000);

  it("changes a member's role and ends their sessions from the security centre", async () => {
    // The members list was loaded before the viewer joined: load the screen afresh.
    await page.goto(screen('security'));
    await page.reload();
    await securityLoaded(page);
    const role = page.getByLabel(`Role of ${VIEWER}`, { exact: true });
    await role.selectOption('analyst');
    await confirmingStepUp(page, `text=${VIEWER} is now analyst.`);
    const members = await api(page, 'GET', `/api/v1/orgs/${await orgIdOf(page)}/members`);
    expect(members.body.members.find((m: { email: string }) => m.email === VIEWER)?.role).toBe(
      'analyst',
    );
    await page.click(`#member-table tr[data-member="${VIEWER}"] button:has-text("End sessions")`);
    await page.waitForSelector(`text=session(s) of ${VIEWER} ended.`);
    // Owners are not offered to themselves: no role picker on the owner's own row.
    expect(await page.isVisible(`[aria-label="Role of ${EMAIL}"]`)).toBe(false);
  });

  it('sends a test event from Setup and turns green once it is queryable', async () => {
    await page.goto(screen('setup'));
    // Every SDK's snippet has the project's token and this server filled in.
    const snippets = await page.$$eval('.snippet', (els) =>
      els.map((e) => [
        e.querySelector('h2, h3')?.textContent ?? '',
        e.querySelector('pre')?.textContent ?? '',
      ]),
    );
    expect(snippets.map(([title]) => title)).toEqual([
      'mixpanel-browser',
      'mixpanel (Node)',
      'posthog-js',
      'posthog-node',
      'Python (mixpanel)',
    ]);
    for (const [title, code] of snippets) {
      expect(code, title).toContain(project.token);
      expect(code, title).toContain(new URL(origin).host);
    }
    await page.click('button:has-text("Send a test event")');
    await page.waitForSelector('.check.ok', { timeout: 30_000 });
    expect(await page.textContent('.check')).toContain('Received');
    await checkAccessibility(page, 'setup');
    await shot(page, 'setup');
  });

  it('shows events sent by mixpanel-browser from a test page in Live events, as stored', async () => {
    await page.goto(screen('live'));
    await page.waitForSelector('#live-table tbody tr');
    expect(await page.textContent('#live-status')).toContain('Following');

    // A customer's page with the unmodified SDK, pointed at Sillage by api_host alone.
    const shop = await browser.newContext();
    const shopPage = await shop.newPage();
    await shopPage.goto(`${site.origin(SHOP)}/checkout`);
    const distinctId = await shopPage.evaluate(
      async ({ token, apiHost }) => {
        const mp = (
          window as unknown as {
            mixpanel: {
              init(t: string, c: Record<string, unknown>): void;
              track(name: string, props: Record<string, unknown>): void;
              get_distinct_id(): string;
            };
          }
        ).mixpanel;
        await new Promise<void>((resolve) =>
          mp.init(token, { api_host: apiHost, batch_requests: false, loaded: () => resolve() }),
        );
        mp.track('Checkout started', { plan: 'team', contact: 'buyer@example.com' });
        return mp.get_distinct_id();
      },
      { token: project.token, apiHost: origin },
    );
    expect(distinctId).toMatch(/^\$device:/);

    // The dashboard, following, shows it within seconds, without a reload.
    const row = page.locator('#live-table tbody tr', { hasText: 'Checkout started' });
    await row.waitFor({ timeout: 30_000 });
    await shop.close();
    const cells = await row.locator('td, th').allTextContents();
    const latest = await api(page, 'GET', `/api/v1/projects/${project.project_id}/events/latest`);
    const stored = latest.body.events.find(
      (e: { event: string }) => e.event === 'Checkout started',
    );
    // What is shown is what is stored: the pseudonym, not the SDK's id; the e-mail redacted.
    expect(cells[2]).toBe(stored.properties.distinct_id);
    expect(cells[2]).toMatch(/^u_/);
    await row.locator('summary').click();
    const props = JSON.parse((await row.locator('pre').textContent()) ?? '{}');
    expect(props).toEqual(stored.properties);
    expect(props.contact).toBe('[email]');
    expect(props.plan).toBe('team');
    expect(props.mp_lib).toBe('web');
    const text = (await page.textContent('main')) ?? '';
    expect(text).not.toContain('buyer@example.com');
    expect(text).not.toContain(distinctId.replace('$device:', ''));
    await checkAccessibility(page, 'live events');
    await shot(page, 'live');
  });

  it('shows what the privacy stage caught, as the API reports it', async () => {
    await page.goto(screen('privacy'));
    await page.waitForSelector('.table-wrap tbody tr');
    const shown = await tableRows(page, '.table-wrap');
    const report = await api(page, 'GET', `/api/v1/projects/${project.project_id}/privacy/report`);
    expect(shown).toEqual(
      report.body.totals.map((t: { property: string; kind: string; count: number }) => [
        t.property,
        t.kind,
        String(t.count),
      ]),
    );
    expect(shown).toContainEqual(['note', 'email', '1']);
    expect(await page.textContent('.card')).not.toContain('jane.doe');
    expect(await page.textContent('main')).toContain('safe defaults');
    await checkAccessibility(page, 'privacy');
    await shot(page, 'privacy');
  });

  it('edits the privacy policy: loosenings marked before saving, saved through the API', async () => {
    await page.goto(screen('privacy'));
    await page.waitForSelector('#policy-state');
    expect(await page.textContent('#policy-state')).toContain('safe defaults');
    await page.check('input[type="radio"][value="city"]');
    // Marked as a loosening before it is saved.
    expect(await page.textContent('#loosenings')).toContain('geolocation stored down to city');
    await page.check('text=Delete events older than a period');
    await page.getByLabel('Days kept', { exact: true }).fill('30');
    await page.click('button:has-text("Save the policy")');
    await confirmingStepUp(page, '#policy-saved');
    expect(await page.textContent('#policy-saved')).toContain('geolocation stored down to city');
    const saved = await api(page, 'GET', `/api/v1/projects/${project.project_id}/privacy/policy`);
    expect(saved.body.policy.geo).toBe('city');
    expect(saved.body.policy.retentionDays).toBe(30);
    await checkAccessibility(page, 'privacy (policy editor)');
    await shot(page, 'privacy-policy');
    // Back to the safe default.
    await page.check('input[type="radio"][value="region"]');
    await page.click('button:has-text("Save the policy")');
    await page.waitForFunction(() =>
      document.querySelector('#policy-state')?.textContent?.includes('safe defaults'),
    );
    await pollUntil('policy back to region', async () => {
      const r = await api(page, 'GET', `/api/v1/projects/${project.project_id}/privacy/policy`);
      return r.body.policy.geo === 'region';
    });
  });

  it('erases a person: their events are gone', async () => {
    const before = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'trends',
      from: day(-6),
      to: day(0),
      interval: 'day',
      series: [{ event: null, math: 'unique_users' }],
    });
    await page.goto(screen('privacy'));
    await page.getByLabel('User id as your app sends it', { exact: true }).fill('u4');
    expect(await page.isDisabled('button:has-text("Erase this person")')).toBe(true);
    await page.check('text=I understand this cannot be undone');
    await page.click('button:has-text("Erase this person")');
    await confirmingStepUp(page, '#erased');
    // u4 had one event (a page view).
    expect(await page.textContent('#erased')).toContain('1 events deleted');
    const after = await api(page, 'POST', `/api/v1/projects/${project.project_id}/query`, {
      kind: 'trends',
      from: day(-6),
      to: day(0),
      interval: 'day',
      series: [{ event: null, math: 'unique_users' }],
    });
    expect(after.body.series[0].total).toBe(before.body.series[0].total - 1);
  });

  it('shows alerts, the audit log with filters and export, and a breach-impact report', async () => {
    // A raw export (the passkey sign-in is a fresh step-up) raises a notice alert at once.
    const exported = await page.evaluate(
      async (url) => (await fetch(url)).status,
      `/api/v1/projects/${project.project_id}/export?from=${day(-7)}&to=${day(0)}`,
    );
    expect(exported).toBe(200);
    // Detection runs on the durable entry, a moment after the answer.
    const orgId = await orgIdOf(page);
    await pollUntil('the raw-export alert', async () => {
      const r = await api(page, 'GET', `/api/v1/orgs/${orgId}/audit?kind=alert`);
      return r.body.entries?.length > 0;
    });
    await page.goto(screen('audit'));
    await page.waitForSelector('#alert-table tbody tr', { timeout: 20_000 });
    expect(await page.textContent('#alert-table')).toContain('raw export');

    // The log, filtered to live-events reads: the entries the API answers for the same filter.
    await page.getByLabel('Kind', { exact: true }).selectOption('live_events');
    const listed = page.waitForResponse((r) => r.url().includes('/audit?'));
    await page.click('button:has-text("Show entries")');
    const answer = (await (await listed).json()) as { entries: { seq: number; rows: number }[] };
    await page.waitForSelector('#audit-table tbody tr');
    const shown = await page.$$eval('#audit-table tbody tr', (rows) =>
      rows.map((r) => [
        r.children[0]?.textContent,
        r.children[2]?.textContent,
        r.children[5]?.textContent,
      ]),
    );
    expect(answer.entries.length).toBeGreaterThan(0);
    expect(shown).toEqual(
      [...answer.entries].reverse().map((e) => [String(e.seq), 'live events', String(e.rows)]),
    );
    // Export: NDJSON of the same entries.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Export NDJSON")'),
    ]);
    const file = await download.path();
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l: { kind: string }) => l.kind)).toEqual(
      answer.entries.map(() => 'live_events'),
    );
    expect(lines.length).toBeGreaterThanOrEqual(answer.entries.length);

    // The breach-impact report on the owner's own account: what the page shows is the answer.
    await page.getByLabel('Who or what', { exact: true }).fill(EMAIL);
    const reported = page.waitForResponse((r) => r.url().includes('/incidents/report') && r.ok());
    await page.click('button:has-text("Build the report")');
    await confirmingStepUp(page, '#incident-report');
    const report = await (await reported).json();
    expect(await page.textContent('[data-field="accesses"]')).toBe(String(report.accesses));
    expect(await page.textContent('[data-field="rows_returned"]')).toBe(
      String(report.rows_returned),
    );
    expect(await page.textContent('[data-field="subjects"]')).toBe(String(report.subjects));
    expect(report.accesses).toBeGreaterThan(0);
    expect(report.subjects).toBeGreaterThan(0);
    expect(await page.textContent('#art33')).toContain(report.art33.nature);
    await checkAccessibility(page, 'audit');
    await shot(page, 'audit');
    const [md] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Download Markdown")'),
    ]);
    expect(fs.readFileSync(await md.path(), 'utf8')).toContain(EMAIL);
  });

  it('creates a key through the step-up prompt in a browser signed in with a recovery code', async () => {
    // A second browser holding the same passkey (copied from the first authenticator).
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    other = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    otherPage = await other.newPage();
    watch(otherPage);
    const { cdp: otherCdp, authenticatorId: otherId } = await addVirtualPasskey(other, otherPage);
    for (const credential of credentials) {
      await otherCdp.send('WebAuthn.addCredential', { authenticatorId: otherId, credential });
    }
    await otherPage.goto(`${origin}/`);
    await otherPage.fill('#signin-email', EMAIL);
    await otherPage.fill('#signin-password', PASSWORD);
    await otherPage.click('button:has-text("Continue")');
    await otherPage.fill('#signin-code', recoveryCodes[0] ?? '');
    await otherPage.click('button:has-text("Sign in with the code")');
    await otherPage.waitForSelector('.who');
    await otherPage.goto(screen('security'));
    await otherPage.getByLabel('New key name', { exact: true }).fill('Nightly report');
    await otherPage.click('button:has-text("Create key")');
    // A recovery-code session has no fresh passkey check: the API asks, the app prompts.
    await otherPage.waitForSelector('dialog[open] >> text=Confirm it is you');
    await checkAccessibility(otherPage, 'step-up prompt');
    await otherPage.click('button:has-text("Confirm with passkey")');
    await otherPage.waitForSelector('#new-secret', { timeout: 15_000 });
    expect(await otherPage.textContent('#new-secret')).toMatch(/^sil_sk_/);
    const keys = await api(otherPage, 'GET', `/api/v1/projects/${project.project_id}/keys`);
    expect(keys.body.keys.map((k: { name: string }) => k.name)).toContain('Nightly report');
  });

  it("shows a key's use, rotates it behind the step-up and revokes the new one at once", async () => {
    const p = otherPage!;
    const first = ((await p.textContent('#new-secret')) ?? '').trim();
    const ask = (secret: string): Promise<number> =>
      fetch(`${origin}/api/v1/projects/${project.project_id}/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          kind: 'trends',
          from: day(-6),
          to: day(0),
          series: [{ event: 'Page View' }],
        }),
      }).then((r) => r.status);
    expect(await ask(first)).toBe(200);
    const listed = async (): Promise<
      { id: string; name: string; status: string; use_count: number; rotated_from: string | null }[]
    > => (await api(p, 'GET', `/api/v1/projects/${project.project_id}/keys`)).body.keys;
    const original = (await listed()).find((k) => k.name === 'Nightly report')!;
    // The table shows the use the API counts.
    await pollUntil('the use counted', async () => {
      // Already on this address: only a reload asks the API again.
      await p.goto(screen('security'));
      await p.reload();
      await p.waitForSelector(`#key-table tr[data-key="${original.id}"]`);
      return (
        (await p.textContent(`#key-table tr[data-key="${original.id}"] td:nth-of-type(5)`)) === '1'
      );
    });
    expect((await listed()).find((k) => k.id === original.id)?.use_count).toBe(1);

    await p.click(`#key-table tr[data-key="${original.id}"] button:has-text("Rotate")`);
    await confirmingStepUp(p, '#new-secret');
    const second = ((await p.textContent('#new-secret')) ?? '').trim();
    expect(second).toMatch(/^sil_sk_/);
    expect(second).not.toBe(first);
    const rotated = (await listed()).find((k) => k.rotated_from === original.id)!;
    expect(rotated.status).toBe('active');
    // Both work during the overlap.
    expect(await ask(second)).toBe(200);
    expect(await ask(first)).toBe(200);

    await p.waitForSelector(`#key-table tr[data-key="${rotated.id}"]`);
    await p.click(`#key-table tr[data-key="${rotated.id}"] button:has-text("Revoke")`);
    await p.waitForFunction(
      (id) =>
        document.querySelector(`#key-table tr[data-key="${id}"] td:nth-of-type(3)`)?.textContent ===
        'revoked',
      rotated.id,
    );
    expect(await ask(second)).toBe(401);
  });

  it('revokes the other browser session, which is then signed out', async () => {
    await page.goto(screen('security'));
    await securityLoaded(page);
    await page.waitForSelector('#session-list li:nth-child(2)');
    await checkAccessibility(page, 'security');
    await shot(page, 'security');
    await page.click('#session-list li:not(:has(em)) button:has-text("Revoke")');
    await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 1);
    // The other browser's next call finds its session gone and shows the sign-in form.
    await otherPage!.click('nav a:has-text("Insights")');
    await otherPage!.waitForSelector('#signin-email', { timeout: 15_000 });
  });

  it('signs out everywhere else: the other browser is signed out, this one stays', async () => {
    await otherPage!.fill('#signin-email', EMAIL);
    await otherPage!.fill('#signin-password', PASSWORD);
    await otherPage!.click('button:has-text("Continue")');
    await otherPage!.fill('#signin-code', recoveryCodes[2] ?? '');
    await otherPage!.click('button:has-text("Sign in with the code")');
    await otherPage!.waitForSelector('nav a:has-text("Insights")');
    await page.goto(screen('security'));
    await page.reload();
    await securityLoaded(page);
    await page.waitForSelector('#session-list li:nth-child(2)');
    await page.click('button:has-text("Sign out everywhere else")');
    await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 1);
    // Its next call (another screen: it is on Insights already; not Funnels either, which the
    // lock-down test below opens from here) finds the session gone.
    await otherPage!.click('nav a:has-text("Retention")');
    await otherPage!.waitForSelector('#signin-email', { timeout: 15_000 });
    expect(
      await otherPage!.evaluate(async () => (await fetch('/api/v1/auth/session')).status),
    ).toBe(401);
    expect(await page.evaluate(async () => (await fetch('/api/v1/auth/session')).status)).toBe(200);
  });

  it('renews the recovery codes behind the step-up and shows the notices as the API lists them', async () => {
    await page.goto(screen('security'));
    await page.reload();
    await securityLoaded(page);
    await page.waitForSelector('#codes-left strong');
    const before = await api(page, 'GET', '/api/v1/me');
    // Two recovery codes were used to sign the second browser in.
    expect(before.body.recovery_codes_left).toBe(8);
    expect(await page.textContent('#codes-left strong')).toBe('8');
    await page.click('button:has-text("New recovery codes")');
    await confirmingStepUp(page, '#new-codes');
    const fresh = ((await page.textContent('#new-codes')) ?? '').trim().split('\n');
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(recoveryCodes[1]);
    // The lock-down test below signs the second browser in with one of the new codes.
    recoveryCodes = fresh;
    await page.waitForFunction(
      () => document.querySelector('#codes-left strong')?.textContent === '10',
    );
    expect((await api(page, 'GET', '/api/v1/me')).body.recovery_codes_left).toBe(10);

    // The notices: the same list as the API, newest first, with what each says.
    await page.reload();
    await page.waitForSelector('#notice-list li');
    const listed = await api(page, 'GET', '/api/v1/me/notices');
    const notices = listed.body.notices as { kind: string; title: string; read: boolean }[];
    expect(notices.map((n) => n.kind)).toContain('recovery_code_used');
    expect(notices[0]?.kind).toBe('factor_added');
    expect(
      await page.$$eval('#notice-list li', (li) => li.map((l) => l.getAttribute('data-notice'))),
    ).toEqual(notices.map((n) => n.kind));
    const summaries = await page.$$eval('#notice-list summary', (s) =>
      s.map((x) => x.textContent ?? ''),
    );
    notices.forEach((n, i) => expect(summaries[i]).toContain(n.title));
    await page.click('#notice-list li:first-child summary');
    expect(await page.textContent('#notice-list li:first-child .notice-text')).toContain(
      "If this wasn't you",
    );
    await checkAccessibility(page, 'security (your account, notices)');
    await page.click('button:has-text("Mark all as read")');
    await page.waitForFunction(
      () => document.querySelectorAll('#notice-list li.unread').length === 0,
    );
    const read = await api(page, 'GET', '/api/v1/me/notices');
    expect(read.body.notices.every((n: { read: boolean }) => n.read)).toBe(true);
  });

  /** A screen loaded in full (a hash change alone keeps the page and its network-idle state). */
  async function openScreen(name: (typeof SCREENS)[number]): Promise<void> {
    await page.goto(screen(name));
    await page.reload();
    await page.waitForSelector('main h1');
    // Live events polls every 3 s, so on a loaded machine the network may never be idle.
    if (name === 'live') await page.waitForSelector('#live-table tbody tr');
    else await page.waitForLoadState('networkidle');
  }

  it('fits every screen at 1280 px and on a phone, and passes axe there', async () => {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 1280 ? 860 : 844 });
      for (const name of SCREENS) {
        await openScreen(name);
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - window.innerWidth,
        );
        expect(overflow, `${name} is wider than ${width} px`).toBeLessThanOrEqual(0);
        // At 1280 px the Security tables show their actions without scrolling sideways.
        if (name === 'security' && width === 1280) {
          const clipped = await page.$$eval('#key-table, #member-table', (tables) =>
            tables
              .filter((t) => t.scrollWidth > (t.parentElement?.clientWidth ?? 0) + 1)
              .map((t) => t.id),
          );
          expect(clipped).toEqual([]);
        }
        if (width === 390) await checkAccessibility(page, `${name} (phone)`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 860 });
  }, 300_000);

  it('takes every screen by keyboard: each Tab lands on a visible control with a focus ring, none traps it', async () => {
    for (const name of SCREENS) {
      await openScreen(name);
      const seen = new Set<string>();
      let stops = 0;
      // Bounded: the first 40 stops of each screen (the builders' controls on the report screens).
      for (; stops < 40; stops++) {
        await page.keyboard.press('Tab');
        const focus = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          if (!el || el === document.body) return null;
          const r = el.getBoundingClientRect();
          const style = getComputedStyle(el);
          return {
            id: `${el.tagName.toLowerCase()}#${el.id}.${el.className}:${(el.textContent ?? '').trim().slice(0, 30)}:${el.getAttribute('aria-label') ?? ''}:${[...(el.parentElement?.children ?? [])].indexOf(el)}`,
            visible: r.width > 0 && r.height > 0 && style.visibility !== 'hidden',
            ring:
              el.matches(':focus-visible') &&
              ((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) ||
                style.boxShadow !== 'none'),
          };
        });
        // The focus left the page (past its last control): every control was reached.
        if (focus === null) break;
        expect(focus.visible, `${name}: ${focus.id} is focused but not visible`).toBe(true);
        expect(focus.ring, `${name}: ${focus.id} shows no focus ring`).toBe(true);
        if (seen.has(focus.id)) break; // back at the start: the focus went round
        seen.add(focus.id);
      }
      // Tab moved on every time (a trap would hold it on one control).
      expect(seen.size, `${name}: the focus did not move`).toBeGreaterThan(Math.min(stops, 3));
    }
  }, 300_000);

  it('works on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(screen('funnels'));
    await page.waitForSelector('.result table');
    expect(await page.isVisible('nav[aria-label="Main"]')).toBe(false);
    await page.click('button:has-text("Menu")');
    expect(await page.isVisible('nav[aria-label="Main"] a:has-text("Retention")')).toBe(true);
    await checkAccessibility(page, 'phone');
    await shot(page, 'phone');
    // Every screen's fit is checked by the test above.
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('locks the organisation down: every session ends', async () => {
    // The second browser signs in again (another recovery code) and is on a report.
    await otherPage!.fill('#signin-email', EMAIL);
    await otherPage!.fill('#signin-password', PASSWORD);
    await otherPage!.click('button:has-text("Continue")');
    await otherPage!.fill('#signin-code', recoveryCodes[1] ?? '');
    await otherPage!.click('button:has-text("Sign in with the code")');
    await otherPage!.waitForSelector('nav a:has-text("Funnels")');
    await page.goto(screen('security'));
    await securityLoaded(page);
    await page.click('button:has-text("Lock down Acme")');
    await page.click('button:has-text("Yes, lock down now")');
    await page.waitForSelector('text=Locked down:');
    await page.goto(`${origin}/`);
    await page.waitForSelector('#signin-email');
    const session = await page.evaluate(async () => (await fetch('/api/v1/auth/session')).status);
    expect(session).toBe(401);
    // The other browser is signed out too: its next step shows the sign-in form.
    // (A call its report was still making may already have found the session gone.)
    const funnels = otherPage!.locator('nav a:has-text("Funnels")');
    if (await funnels.isVisible()) await funnels.click();
    await otherPage!.waitForSelector('#signin-email', { timeout: 15_000 });
    expect(
      await otherPage!.evaluate(async () => (await fetch('/api/v1/auth/session')).status),
    ).toBe(401);
  });

  it('ran without a CSP violation or a page error', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
