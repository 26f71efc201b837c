// The dashboard's breakdowns and flows in a real browser (Debian's Chromium, virtual WebAuthn):
// retention with a breakdown (a heat map per segment, one CSV: the API's), breakdowns by a list
// of properties (an event and a person property: "web / paid") and by saved cohorts (rows named
// after the cohorts, and "In none of these cohorts"; then with a property beside them: "Buyers /
// web") in Insights and Funnels, a cohort breakdown
// on the board, the paths before an event and a flow's empty state, and the screen of an
// organisation without a project. Every number shown is checked against the API's answer to the
// body the screen sent; every screen passes axe-core and runs without a CSP violation.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import {
  createProject,
  freePort,
  makeTestEnv,
  runCli,
  startServerProcess,
  type CreatedProject,
  type ServerProcess,
  type TestEnv,
} from './helpers/server.js';
import { pollUntil } from './helpers/wait.js';
import {
  addVirtualPasskey,
  checkAccessibility as axeCheck,
  pageApi,
  screenshot,
} from './helpers/dashboard.js';

const EMAIL = 'segments.owner@example.com';
const PASSWORD = 'copper meadow 7731 after frost';
const DAY_MS = 86_400_000;
const POLL = { timeout: 20_000, interval: 200 };

/** Who did what, days ago, in order; each user's platform and source are on all their events. */
const JOURNEYS: [user: string, event: string, daysAgo: number][] = [
  ['u1', 'Signed Up', 6],
  ['u2', 'Signed Up', 6],
  ['u1', 'Opened App', 5],
  ['u1', 'Purchase', 5],
  ['u3', 'Signed Up', 5],
  ['u4', 'Signed Up', 5],
  ['u2', 'Opened App', 4],
  ['u3', 'Opened App', 4],
  ['u5', 'Signed Up', 4],
  ['u3', 'Purchase', 3],
  ['u5', 'Opened App', 3],
  ['u6', 'Opened App', 2],
];
const TRAITS: Record<string, { platform: string; source: string; plan?: string }> = {
  u1: { platform: 'web', source: 'ads', plan: 'paid' },
  u2: { platform: 'web', source: 'search', plan: 'free' },
  u3: { platform: 'ios', source: 'ads', plan: 'paid' },
  u4: { platform: 'ios', source: 'search', plan: 'free' },
  u5: { platform: 'web', source: 'ads' },
  u6: { platform: 'web', source: 'search', plan: 'free' },
};

interface Cohort {
  start: string;
  size: number;
  counts: number[];
}

describe('breakdowns and flows in Chromium', () => {
  let t: TestEnv;
  let server: ServerProcess;
  let project: CreatedProject;
  let browser: Browser;
  let page: Page;
  let origin = '';
  let setupLink = '';
  const cohortIds: Record<string, string> = {};
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  /** The query bodies the page sent, in order. */
  const sent: Record<string, unknown>[] = [];

  const api = (method: string, url: string, body?: unknown, accept?: string) =>
    pageApi(page, method, url, body, accept);
  const query = (body: unknown, accept?: string) =>
    api('POST', `/api/v1/projects/${project.project_id}/query`, body, accept);
  const screen = (name: string): string => `${origin}/#/p/${project.project_id}/${name}`;

  const checkAccessibility = (where: string) => axeCheck(page, where);
  const shot = (name: string) => screenshot(page, name);

  const tableRows = (scope: string): Promise<string[][]> =>
    page.$$eval(`${scope} table tbody tr`, (rows) =>
      rows.map((r) =>
        [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim() ?? ''),
      ),
    );
  const tableHeader = (scope: string): Promise<string[]> =>
    page.$$eval(`${scope} table thead th`, (ths) => ths.map((th) => th.textContent ?? ''));

  /** The last query body sent, once one matching `ready` has been sent. */
  const lastSent = async (
    ready: (body: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> => {
    await expect.poll(() => sent.length > 0 && ready(sent.at(-1)!), POLL).toBe(true);
    return sent.at(-1)!;
  };

  /** The CSV the page downloads when its one "Download CSV" in `scope` is pressed. */
  const downloaded = async (scope: string): Promise<string> => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`${scope} button:has-text("Download CSV")`),
    ]);
    return fs.readFileSync((await download.path()) ?? '', 'utf8');
  };

  const pct = (n: number, size: number): string =>
    size > 0 ? `${((100 * n) / size).toFixed(1)}% (${n})` : `– (${n})`;
  const gridRows = (cohorts: Cohort[]): string[][] =>
    cohorts.map((c) => [c.start, String(c.size), ...c.counts.map((n) => pct(n, c.size))]);

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = makeTestEnv({ SILLAGE_PUBLIC_URL: origin });
    server = await startServerProcess(t, { port });
    // The organisation has no project until the first test has seen that screen.
    setupLink = (
      JSON.parse(
        await runCli(t, ['admin', 'create', '--email', EMAIL, '--org', 'Acme', '--json']),
      ) as { setup_link: string }
    ).setup_link;
    browser = await launchChromium(['localhost']);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('request', (r) => {
      if (r.method() === 'POST' && /\/api\/v1\/projects\/[^/]+\/query$/.test(r.url()))
        sent.push(r.postDataJSON() as Record<string, unknown>);
    });
    await addVirtualPasskey(context, page);
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const name = ctx.task.name.replace(/\W+/g, '-').slice(0, 60);
    await page?.screenshot({ path: path.join(os.tmpdir(), `breakdowns-${name}.png`) });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop('SIGKILL');
  });

  it('enrols, and the screen of an organisation without a project teaches and passes axe', async () => {
    await page.goto(setupLink);
    await page.fill('#password', PASSWORD);
    await page.click('#password-form button');
    await page.waitForSelector('#factor:not([hidden])');
    await page.click('#passkey-button');
    await page.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    await page.click('text=Open the dashboard');
    await page.waitForSelector('main h3:has-text("Acme has no project yet")');
    expect(await page.textContent('main')).toContain('Its public token goes in your SDK');
    expect(await page.getByLabel('Project name', { exact: true }).isVisible()).toBe(true);
    await checkAccessibility('no project');
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      390,
    );
    await checkAccessibility('no project (phone)');
    await page.setViewportSize({ width: 1280, height: 900 });

    // Now the project, its events and people's plans, and two saved cohorts.
    project = await createProject(t, 'Shop');
    const now = Date.now();
    const res = await fetch(`${server.url}/import`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${project.secret}:`).toString('base64')}`,
      },
      body: JSON.stringify(
        JOURNEYS.map(([user, event, daysAgo], i) => ({
          event,
          properties: {
            token: project.token,
            time: now - daysAgo * DAY_MS - (JOURNEYS.length - i) * 1000,
            distinct_id: user,
            $insert_id: `seg-${i}`,
            platform: TRAITS[user]!.platform,
            source: TRAITS[user]!.source,
          },
        })),
      ),
    });
    expect(res.status).toBe(200);
    for (const [user, traits] of Object.entries(TRAITS)) {
      if (!traits.plan) continue;
      const r = await fetch(`${server.url}/engage`, {
        method: 'POST',
        body:
          'data=' +
          encodeURIComponent(
            JSON.stringify({
              $token: project.token,
              $distinct_id: user,
              $set: { plan: traits.plan },
            }),
          ),
      });
      expect(await r.text()).toBe('1');
    }
    await page.reload();
    await page.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]');
    await pollUntil('seeded events queryable', async () => {
      const r = await api('GET', `/api/v1/projects/${project.project_id}/events`);
      return r.body.events?.length === 3;
    });
    for (const [name, conditions] of [
      [
        'Buyers',
        [
          {
            kind: 'did_event',
            event: 'Purchase',
            count_op: 'gte',
            count: 1,
            within_days: 30,
          },
        ],
      ],
      ['Free plan', [{ kind: 'person_property', property: 'plan', op: 'eq', value: 'free' }]],
    ] as const) {
      const r = await api('POST', `/api/v1/projects/${project.project_id}/cohorts`, {
        name,
        conditions,
      });
      expect(r.status).toBe(201);
      cohortIds[name] = r.body.id;
    }
  });

  it('shows retention broken down by a property and then two, a heat map per segment, and the API’s CSV', async () => {
    await page.goto(screen('retention'));
    await page.reload();
    await page.getByLabel('Users who did', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('and came back to do', { exact: true }).selectOption('Opened App');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Periods shown', { exact: true }).fill('3');
    await page.getByLabel('Periods shown', { exact: true }).press('Tab');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('platform');

    /** The blocks shown: heading and grid rows of each. */
    const blocks = (): Promise<{ label: string; rows: string[][] }[]> =>
      page.$$eval('.result section.segment', (sections) =>
        sections.map((s) => ({
          label: s.querySelector('h2')?.firstChild?.textContent?.trim() ?? '',
          rows: [...s.querySelectorAll('tbody tr')].map((r) =>
            [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim() ?? ''),
          ),
        })),
      );
    const byPlatform = await lastSent((b) => b.breakdown === 'platform' && b.periods === 3);
    expect(byPlatform).toMatchObject({
      kind: 'retention',
      from: '-6d',
      to: 'today',
      start_event: 'Signed Up',
      return_event: 'Opened App',
      period: 'day',
    });
    const one = await query(byPlatform);
    expect(one.status).toBe(200);
    const segments = one.body.breakdowns as {
      breakdown_kind: string;
      breakdown_value: string;
      cohorts: Cohort[];
    }[];
    // Signed up: u1, u2, u5 on the web, u3 and u4 on iOS.
    expect(
      segments.map((s) => [s.breakdown_value, s.cohorts.reduce((a, c) => a + c.size, 0)]),
    ).toEqual([
      ['web', 3],
      ['ios', 2],
    ]);
    await expect
      .poll(blocks, POLL)
      .toEqual([
        { label: 'All users', rows: gridRows(one.body.cohorts) },
        ...segments.map((s) => ({ label: s.breakdown_value, rows: gridRows(s.cohorts) })),
      ]);
    const shades = await page.$$eval('.result section.segment td.heat', (cells) =>
      cells.map((c) => getComputedStyle(c).backgroundColor),
    );
    expect(new Set(shades).size).toBeGreaterThan(1);

    // A second property, of the person: each combination is a block, "web / paid".
    await page.click('button:has-text("Add a breakdown property")');
    await page.getByLabel('Breakdown property 2', { exact: true }).selectOption('person.');
    await page.getByLabel('Breakdown person property 2', { exact: true }).fill('plan');
    const byTwo = await lastSent(
      (b) => Array.isArray(b.breakdown) && b.breakdown.join() === 'platform,person.plan',
    );
    const two = await query(byTwo);
    expect(two.status).toBe(200);
    const pairs = two.body.breakdowns as {
      breakdown_kind: string;
      breakdown_value: (string | null)[] | null;
      cohorts: Cohort[];
    }[];
    const name = (v: (string | null)[] | null): string =>
      (v ?? []).map((x) => x ?? '(not set)').join(' / ');
    expect(pairs.map((p) => name(p.breakdown_value)).sort()).toEqual([
      'ios / free',
      'ios / paid',
      'web / (not set)',
      'web / free',
      'web / paid',
    ]);
    await expect
      .poll(blocks, POLL)
      .toEqual([
        { label: 'All users', rows: gridRows(two.body.cohorts) },
        ...pairs.map((p) => ({ label: name(p.breakdown_value), rows: gridRows(p.cohorts) })),
      ]);
    // One "Download CSV" for the whole answer: the API's CSV of the same body.
    const csv = await downloaded('.result');
    expect(csv).toBe((await query(byTwo, 'text/csv')).body);
    expect(csv.split('\r\n')[0]).toContain('breakdown_value_1,breakdown_value_2');
    await checkAccessibility('retention (breakdown)');
    await shot('retention-breakdown');
    // On a phone, the blocks fit (their tables scroll inside).
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      390,
    );
    await checkAccessibility('retention (breakdown, phone)');
    await page.setViewportSize({ width: 1280, height: 900 });
    // A reload keeps the breakdown (the report lives in the address).
    await page.reload();
    expect(await page.getByLabel('Breakdown person property 2', { exact: true }).inputValue()).toBe(
      'plan',
    );
    await page.waitForSelector('.result section.segment');
  });

  it('breaks a trend down by two properties, then by cohorts, named as the rows are', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('platform');
    await page.click('button:has-text("Add a breakdown property")');
    await page.getByLabel('Breakdown property 2', { exact: true }).selectOption('source');
    // A formula can be used with a breakdown (the last part of this test).
    expect(await page.getByLabel('Formula (optional)', { exact: true }).isDisabled()).toBe(false);

    const check = async (
      body: Record<string, unknown>,
      name: (s: { breakdown_kind: string; breakdown_value: unknown }) => string,
    ): Promise<string[]> => {
      const expected = await query(body);
      expect(expected.status).toBe(200);
      const series = expected.body.series as {
        breakdown_kind: string;
        breakdown_value: unknown;
        labels: string[];
        values: number[];
        total: number;
      }[];
      const header = ['Interval', ...series.map((s) => `Signed Up · Total events · ${name(s)}`)];
      await expect.poll(() => tableHeader('.result .table-wrap'), POLL).toEqual(header);
      expect(await tableRows('.result .table-wrap')).toEqual([
        ...series[0]!.labels.map((l, i) => [l, ...series.map((s) => String(s.values[i]))]),
        ['Total', ...series.map((s) => String(s.total))],
      ]);
      return header.slice(1);
    };

    const byTwo = await lastSent(
      (b) => Array.isArray(b.breakdown) && b.breakdown.join() === 'platform,source',
    );
    expect(byTwo).toMatchObject({ kind: 'trends', series: [{ event: 'Signed Up' }] });
    expect(byTwo).not.toHaveProperty('formula');
    const pairs = await check(byTwo, (s) => (s.breakdown_value as string[]).join(' / '));
    expect(pairs.sort()).toEqual([
      'Signed Up · Total events · ios / ads',
      'Signed Up · Total events · ios / search',
      'Signed Up · Total events · web / ads',
      'Signed Up · Total events · web / search',
    ]);
    await checkAccessibility('insights (two properties)');

    // Cohorts: a column per cohort, named, and the users in none of them.
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('cohort');
    await page.getByLabel('Buyers', { exact: true }).check();
    await page.getByLabel('Free plan', { exact: true }).check();
    const byCohort = await lastSent(
      (b) =>
        JSON.stringify(b.breakdown) ===
        JSON.stringify({ cohort: [cohortIds.Buyers, cohortIds['Free plan']] }),
    );
    const names = Object.fromEntries(Object.entries(cohortIds).map(([n, id]) => [id, n]));
    const columns = await check(byCohort, (s) =>
      s.breakdown_kind === 'not_set'
        ? 'In none of these cohorts'
        : (names[s.breakdown_value as string] ?? ''),
    );
    // Sign-ups: Buyers u1 and u3; free plan u2 and u4; u5 in neither.
    const totals = (await tableRows('.result .table-wrap')).at(-1)?.slice(1) ?? [];
    expect(Object.fromEntries(columns.map((c, i) => [c, totals[i]]))).toEqual({
      'Signed Up · Total events · Buyers': '2',
      'Signed Up · Total events · Free plan': '2',
      'Signed Up · Total events · In none of these cohorts': '1',
    });
    await checkAccessibility('insights (cohorts)');
    await shot('insights-cohort-breakdown');

    // A formula over the rows of each cohort, after the one over the whole series.
    await page.getByLabel('Formula (optional)', { exact: true }).fill('A * 2');
    const withFormula = await lastSent((b) => b.formula === 'A * 2');
    expect(withFormula.breakdown).toEqual(byCohort.breakdown);
    const answer = await query(withFormula);
    expect(answer.status).toBe(200);
    const f = answer.body.formula as {
      values: (number | null)[];
      total: number | null;
      breakdowns: { values: (number | null)[]; total: number | null }[];
    };
    // The rows' order (the cohorts' ranks) is the series'.
    const formulaColumns = [
      'Formula A * 2',
      ...columns.map((c) => c.replace('Signed Up · Total events', 'Formula A * 2')),
    ];
    await expect
      .poll(() => tableHeader('.result .table-wrap'), POLL)
      .toEqual(['Interval', ...columns, ...formulaColumns]);
    const rows = await tableRows('.result .table-wrap');
    const cell = (v: number | null): string => (v === null ? '' : String(v));
    expect(rows.map((r) => r.slice(1 + columns.length))).toEqual([
      ...f.values.map((v, i) => [cell(v), ...f.breakdowns.map((b) => cell(b.values[i]!))]),
      [cell(f.total), ...f.breakdowns.map((b) => cell(b.total))],
    ]);
    // Five sign-ups in all, each cohort's twice its own.
    const formulaTotals = rows.at(-1)?.slice(1 + columns.length) ?? [];
    expect(Object.fromEntries(formulaColumns.map((c, i) => [c, formulaTotals[i]]))).toEqual({
      'Formula A * 2': '10',
      'Formula A * 2 · Buyers': '4',
      'Formula A * 2 · Free plan': '4',
      'Formula A * 2 · In none of these cohorts': '2',
    });
    // Charted, only the formula's lines are drawn (the table keeps every series).
    await page.getByLabel('Show as', { exact: true }).selectOption('line');
    await page.waitForSelector('.result .chart canvas');
    await page.waitForSelector('.result >> text=The chart shows the formula for each value');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    await page.getByLabel('Formula (optional)', { exact: true }).fill('');

    // Cohorts with a property: a column per (cohort, platform), the cohort by its name.
    await page.click('button:has-text("Add a breakdown property")');
    await page.getByLabel('Breakdown property 2', { exact: true }).selectOption('platform');
    const byCohortAndPlatform = await lastSent(
      (b) =>
        JSON.stringify(b.breakdown) ===
        JSON.stringify([{ cohort: [cohortIds.Buyers, cohortIds['Free plan']] }, 'platform']),
    );
    const combined = await check(byCohortAndPlatform, (s) => {
      const [cohort = null, platform = null] = s.breakdown_value as (string | null)[];
      return `${cohort === null ? 'In none of these cohorts' : names[cohort]} / ${platform}`;
    });
    // Sign-ups: u1 Buyers web, u3 Buyers ios, u2 free web, u4 free ios, u5 in neither, web.
    const byPair = (await tableRows('.result .table-wrap')).at(-1)?.slice(1) ?? [];
    expect(Object.fromEntries(combined.map((c, i) => [c, byPair[i]]))).toEqual({
      'Signed Up · Total events · Buyers / ios': '1',
      'Signed Up · Total events · Buyers / web': '1',
      'Signed Up · Total events · Free plan / ios': '1',
      'Signed Up · Total events · Free plan / web': '1',
      'Signed Up · Total events · In none of these cohorts / web': '1',
    });
    await checkAccessibility('insights (cohorts and a property)');
  });

  it('breaks a funnel down by two properties and by a cohort, also on the board', async () => {
    await page.goto(screen('funnels'));
    await page.reload();
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Step 1', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('Step 2', { exact: true }).selectOption('Opened App');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('source');
    // By keyboard: the next Tab reaches "Add a breakdown property", which Enter presses.
    await page.getByLabel('Breakdown by', { exact: true }).focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(
      'Add a breakdown property',
    );
    await page.keyboard.press('Enter');
    await page.getByLabel('Breakdown property 2', { exact: true }).selectOption('person.');
    await page.getByLabel('Breakdown person property 2', { exact: true }).fill('plan');
    const section = 'section[aria-label="Breakdown"]';
    const share = (a: number, b: number): string =>
      b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '–';

    const check = async (
      body: Record<string, unknown>,
      name: (b: { breakdown_kind: string; breakdown_value: unknown }) => string,
      scope = '.result',
    ): Promise<string[][]> => {
      const expected = await query(body);
      expect(expected.status).toBe(200);
      const rows = (
        expected.body.breakdowns as {
          breakdown_kind: string;
          breakdown_value: unknown;
          steps: { count: number }[];
        }[]
      ).map((b) => [
        name(b),
        ...b.steps.map((s) => String(s.count)),
        share(b.steps[1]!.count, b.steps[0]!.count),
      ]);
      await expect.poll(() => tableRows(`${scope} ${section} .table-wrap`), POLL).toEqual(rows);
      return rows;
    };

    const byTwo = await lastSent(
      (b) => Array.isArray(b.breakdown) && b.breakdown.join() === 'source,person.plan',
    );
    expect(byTwo).toMatchObject({
      kind: 'funnel',
      steps: [{ event: 'Signed Up' }, { event: 'Opened App' }],
    });
    const rows = await check(byTwo, (b) =>
      (b.breakdown_value as (string | null)[]).map((v) => v ?? '(not set)').join(' / '),
    );
    // u1 (ads, paid) and u5 (ads, no plan) opened the app; u3 (ads, paid) did too; u2 (search,
    // free) did; u4 (search, free) did not.
    expect(rows.map((r) => r.slice(0, 3)).sort()).toEqual([
      ['ads / (not set)', '1', '1'],
      ['ads / paid', '2', '2'],
      ['search / free', '2', '1'],
    ]);
    expect(await page.textContent(`.result ${section} h2`)).toBe('By source / person.plan');
    await checkAccessibility('funnels (two properties)');

    // One cohort: its row and everyone else's.
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('cohort');
    // A cohort is ticked with the space bar.
    await page.getByLabel('Free plan', { exact: true }).focus();
    await page.keyboard.press('Space');
    const byCohort = await lastSent(
      (b) => JSON.stringify(b.breakdown) === JSON.stringify({ cohort: cohortIds['Free plan'] }),
    );
    const cohortName = (b: { breakdown_kind: string }): string =>
      b.breakdown_kind === 'not_set' ? 'In none of these cohorts' : 'Free plan';
    expect(await check(byCohort, cohortName)).toEqual([
      ['Free plan', '2', '1', '50.0%'],
      ['In none of these cohorts', '3', '3', '100.0%'],
    ]);
    expect(await page.textContent(`.result ${section} h2`)).toBe('By cohort');
    await checkAccessibility('funnels (cohort)');

    // Saved to the board, the cohort's rows keep its name there.
    await page.getByLabel('Save this report to the board as', { exact: true }).fill('By plan');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');

    // The cohort with a property: a row per (cohort, platform); saved to the board too.
    await page.click('button:has-text("Add a breakdown property")');
    await page.getByLabel('Breakdown property 2', { exact: true }).selectOption('platform');
    const byCohortAndPlatform = await lastSent(
      (b) =>
        JSON.stringify(b.breakdown) ===
        JSON.stringify([{ cohort: cohortIds['Free plan'] }, 'platform']),
    );
    const pairName = (b: { breakdown_kind: string; breakdown_value: unknown }): string => {
      const [cohort = null, platform = null] = b.breakdown_value as (string | null)[];
      return `${cohort === null ? 'In none of these cohorts' : 'Free plan'} / ${platform}`;
    };
    // u1 and u5 (web) and u3 (ios) in neither, all converted; u2 (web) free, converted; u4 (ios)
    // free, not converted.
    const pairs = [
      ['In none of these cohorts / web', '2', '2', '100.0%'],
      ['Free plan / ios', '1', '0', '0.0%'],
      ['Free plan / web', '1', '1', '100.0%'],
      ['In none of these cohorts / ios', '1', '1', '100.0%'],
    ];
    expect(await check(byCohortAndPlatform, pairName)).toEqual(pairs);
    await checkAccessibility('funnels (cohort and a property)');
    await page
      .getByLabel('Save this report to the board as', { exact: true })
      .fill('By plan and platform');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');

    await page.goto(screen('boards'));
    const card = '.card:has(h2:text-is("By plan"))';
    await page.waitForSelector(`${card} ${section} tbody tr`);
    expect(await tableRows(`${card} ${section} .table-wrap`)).toEqual([
      ['Free plan', '2', '1', '50.0%'],
      ['In none of these cohorts', '3', '3', '100.0%'],
    ]);
    const pairCard = '.card:has(h2:text-is("By plan and platform"))';
    await page.waitForSelector(`${pairCard} ${section} tbody tr`);
    expect(await tableRows(`${pairCard} ${section} .table-wrap`)).toEqual(pairs);
    await checkAccessibility('boards (cohort breakdown)');
    // Alone on the board, the combined view still has its cohort named (the board loads the
    // cohorts for it too).
    const views = await api('GET', `/api/v1/projects/${project.project_id}/views`);
    const byPlan = views.body.views.find((v: { name: string }) => v.name === 'By plan');
    const gone = await api('DELETE', `/api/v1/projects/${project.project_id}/views/${byPlan.id}`);
    expect(gone.status).toBeLessThan(300);
    await page.reload();
    await page.waitForSelector(`${pairCard} ${section} tbody tr`);
    await expect.poll(() => tableRows(`${pairCard} ${section} .table-wrap`), POLL).toEqual(pairs);
  });

  it('draws the paths before an event with the API’s numbers, and says when nobody did it', async () => {
    await page.goto(screen('flows'));
    await page.reload();
    await page.getByLabel('Show what users did', { exact: true }).selectOption('before');
    await page.getByLabel('their first', { exact: true }).selectOption('Purchase');
    await page.getByLabel('Steps', { exact: true }).selectOption('2');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    const body = await lastSent(
      (b) =>
        JSON.stringify(b.anchor) === JSON.stringify({ event: 'Purchase', direction: 'before' }) &&
        b.steps === 2 &&
        b.from === '-6d',
    );
    expect(body).toEqual({
      kind: 'flows',
      from: '-6d',
      to: 'today',
      anchor: { event: 'Purchase', direction: 'before' },
      steps: 2,
      max_paths_per_step: 5,
    });
    const expected = await query(body);
    expect(expected.status).toBe(200);
    const steps = expected.body.steps as {
      step: number;
      nodes: { event: string; count: number }[];
      links: { from: string; to: string; count: number }[];
      dropoff: number;
    }[];
    // u1 and u3 bought, each after opening the app, which each did after signing up.
    expect(steps.map((s) => s.nodes.map((n) => [n.event, n.count]))).toEqual([
      [['Purchase', 2]],
      [['Opened App', 2]],
      [['Signed Up', 2]],
    ]);
    const label = (e: string) => (e === '$other' ? 'Other events' : e);
    const rows: string[][] = [];
    for (const s of steps) {
      const where = s.step === 0 ? 'Anchor' : `${s.step} before`;
      for (const n of s.nodes)
        rows.push([
          where,
          label(n.event),
          String(n.count),
          s.step === 0
            ? ''
            : s.links
                .filter((l) => l.to === n.event)
                .map((l) => `${label(l.from)} (${l.count})`)
                .join(', '),
        ]);
      if (s.step > 0) rows.push([where, 'No earlier event', String(s.dropoff), '']);
    }
    await page.waitForSelector('.sankey[data-drawn="true"] canvas', { timeout: 30_000 });
    await expect.poll(() => tableRows('.result .table-wrap'), POLL).toEqual(rows);
    expect(await tableHeader('.result .table-wrap')).toEqual([
      'Step',
      'Event',
      'Users',
      'Followed by',
    ]);
    expect(await page.getAttribute('.sankey', 'aria-label')).toBe(
      'Flow: paths before Purchase (2 users)',
    );
    await checkAccessibility('flows (before)');
    await shot('flows-before');

    // Nobody bought today: the empty state says what to do, and nothing is drawn.
    await page.getByLabel('Date range preset', { exact: true }).selectOption('today');
    await page.waitForSelector('.result h3:has-text("Nobody did this event in the range")');
    expect(await page.textContent('.result .notice')).toContain('widen the date range');
    expect(await page.isVisible('.result .sankey')).toBe(false);
    const today = await query(sent.at(-1));
    expect(today.body.steps[0]?.nodes[0]?.count ?? 0).toBe(0);
    await checkAccessibility('flows (empty)');
  });

  it('ran without a CSP violation or a page error', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
