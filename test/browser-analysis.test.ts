// The dashboard's analysis screens in a real browser (Debian's Chromium, virtual WebAuthn): the
// second-generation query features in Insights (formula, compare with the previous period, the
// new maths, any/all groups with person and cohort filters, relative date presets kept relative
// on the board, CSV from the API), Cohorts (build, size, use as a filter), Users (opened from Live
// events, profile and stream, identity reveal from the vault behind a passkey check) and Flows
// (a Sankey drawn by ECharts and a table), and Funnels with every option (order, exclusions, a
// property held constant, breakdown, conversion over time, time to convert). Every number shown is checked against the API's answer
// to the same query; every screen passes axe-core and runs without a CSP violation.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser.js';
import { pseudonymsOf } from './helpers/pseudonyms.js';
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

const EMAIL = 'analyst.owner@example.com';
const PASSWORD = 'amber lantern 5523 over tide';
const PERSON_EMAIL = 'first.buyer.q8@example.org';
const DAY_MS = 86_400_000;

/** Who did what, days ago (this week and, for the comparison, the week before). */
const JOURNEYS: [user: string, event: string, daysAgo: number][] = [
  ['u1', 'Page View', 6],
  ['u1', 'Signed Up', 6],
  ['u1', 'Purchase', 5],
  ['u1', 'Page View', 4],
  ['u2', 'Page View', 6],
  ['u2', 'Signed Up', 5],
  ['u2', 'Page View', 3],
  ['u3', 'Page View', 5],
  ['u3', 'Signed Up', 5],
  ['u3', 'Purchase', 5],
  ['u4', 'Page View', 4],
  ['u5', 'Page View', 2],
  ['u5', 'Signed Up', 2],
  ['u6', 'Page View', 0],
  ['u7', 'Page View', 10],
  ['u7', 'Signed Up', 9],
  ['u8', 'Page View', 12],
];
const PLANS: Record<string, string> = { u1: 'paid', u2: 'free', u3: 'paid', u4: 'free' };

describe('the analysis screens in Chromium', () => {
  let t: TestEnv;
  let server: ServerProcess;
  let project: CreatedProject;
  let browser: Browser;
  let page: Page;
  let origin = '';
  let setupLink = '';
  let cohortId = '';
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const api = (method: string, url: string, body?: unknown, accept?: string) =>
    pageApi(page, method, url, body, accept);
  const query = (body: unknown, accept?: string) =>
    api('POST', `/api/v1/projects/${project.project_id}/query`, body, accept);
  const screen = (name: string): string => `${origin}/#/p/${project.project_id}/${name}`;

  const checkAccessibility = (where: string) => axeCheck(page, where);
  const shot = (name: string) => screenshot(page, name);

  /** The result table's rows: the row header, then each cell's exact value. */
  const tableRows = (scope = '.result .table-wrap'): Promise<string[][]> =>
    page.$$eval(`${scope} table tbody tr`, (rows) =>
      rows.map((r) =>
        [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim() ?? ''),
      ),
    );
  const tableHeader = (scope = '.result .table-wrap'): Promise<string[]> =>
    page.$$eval(`${scope} table thead th`, (ths) => ths.map((th) => th.textContent ?? ''));

  /** The CSV the page downloads when "Download CSV" is pressed. */
  const downloaded = async (scope: string): Promise<string> => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click(`${scope} button:has-text("Download CSV")`),
    ]);
    return fs.readFileSync((await download.path()) ?? '', 'utf8');
  };

  /** Waits for `done`; confirms a step-up prompt with the passkey if the API asks for one. */
  const confirmingStepUp = async (done: string): Promise<void> => {
    const first = await Promise.race([
      page.waitForSelector(done, { timeout: 20_000 }).then(() => 'done'),
      page.waitForSelector('dialog[open]', { timeout: 20_000 }).then(() => 'dialog'),
    ]);
    if (first === 'dialog') {
      await page.click('dialog[open] button:has-text("Confirm with passkey")');
      await page.waitForSelector(done, { timeout: 20_000 });
    }
  };

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    t = makeTestEnv({ SILLAGE_PUBLIC_URL: origin });
    server = await startServerProcess(t, { port });
    setupLink = (
      JSON.parse(
        await runCli(t, ['admin', 'create', '--email', EMAIL, '--org', 'Acme', '--json']),
      ) as { setup_link: string }
    ).setup_link;
    project = await createProject(t, 'Shop');
    // The vault on, so that the Users screen can reveal a person's e-mail.
    const policyFile = path.join(t.base, 'policy.json');
    fs.writeFileSync(policyFile, JSON.stringify({ vault: true }));
    await runCli(t, [
      'privacy',
      'policy',
      'set',
      '--project',
      project.project_id,
      '--file',
      policyFile,
      '--actor',
      'dpo@example.com',
    ]);
    const now = Date.now();
    const events = JOURNEYS.map(([user, event, daysAgo], i) => ({
      event,
      properties: {
        token: project.token,
        time: now - daysAgo * DAY_MS - (JOURNEYS.length - i) * 1000,
        distinct_id: user,
        $insert_id: `seed-${i}`,
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
    for (const [user, plan] of Object.entries(PLANS)) {
      const set = { plan, ...(user === 'u1' ? { $email: PERSON_EMAIL } : {}) };
      const r = await fetch(`${server.url}/engage`, {
        method: 'POST',
        body:
          'data=' +
          encodeURIComponent(
            JSON.stringify({ $token: project.token, $distinct_id: user, $set: set }),
          ),
      });
      expect(await r.text()).toBe('1');
    }

    browser = await launchChromium(['localhost']);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await addVirtualPasskey(context, page);
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const name = ctx.task.name.replace(/\W+/g, '-').slice(0, 60);
    await page?.screenshot({ path: path.join(os.tmpdir(), `analysis-${name}.png`) });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop('SIGKILL');
  });

  it('enrols with a passkey and waits for the events', async () => {
    await page.goto(setupLink);
    await page.waitForSelector('#password');
    await checkAccessibility('enrolment');
    await page.fill('#password', PASSWORD);
    await page.click('#password-form button');
    await page.waitForSelector('#factor:not([hidden])');
    await page.click('#passkey-button');
    await page.waitForSelector('#done:not([hidden])', { timeout: 15_000 });
    await checkAccessibility('enrolment (recovery codes)');
    await page.click('text=Open the dashboard');
    await page.waitForSelector('nav[aria-label="Main"] a[aria-current="page"]');
    await pollUntil('seeded events queryable', async () => {
      const r = await api('GET', `/api/v1/projects/${project.project_id}/events`);
      return r.body.events?.length === 3;
    });
  });

  it('shows a formula and the previous period exactly as the API answers, and its CSV', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Page View');
    await page.click('button:has-text("Add series")');
    await page.getByLabel('Event B', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('Formula (optional)', { exact: true }).fill('B / A * 100');
    await page.getByLabel('Compare with the previous period', { exact: true }).check();
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    const body = {
      kind: 'trends',
      from: '-6d',
      to: 'today',
      interval: 'day',
      series: [
        { event: 'Page View', math: 'total' },
        { event: 'Signed Up', math: 'total' },
      ],
      formula: 'B / A * 100',
      compare: 'previous_period',
    };
    const expected = await query(body);
    expect(expected.status).toBe(200);
    const [a, b] = expected.body.series;
    const f = expected.body.formula;
    // The week before had traffic too, so the comparison is not all zeros.
    expect(a.previous_total).toBe(2);
    const columns = [a.values, a.previous_values, b.values, b.previous_values, f.values];
    const cell = (v: number | null): string => (v === null ? '' : String(v));
    await page.waitForFunction(
      () => document.querySelectorAll('.result .table-wrap thead th').length === 6,
    );
    expect(await tableHeader()).toEqual([
      'Interval',
      'Page View · Total events',
      'Page View · Total events · previous period',
      'Signed Up · Total events',
      'Signed Up · Total events · previous period',
      'Formula B / A * 100',
    ]);
    expect(await tableRows()).toEqual([
      ...a.labels.map((l: string, i: number) => [l, ...columns.map((c) => cell(c[i]))]),
      ['Total', ...[a.total, a.previous_total, b.total, b.previous_total, f.total].map(cell)],
    ]);
    // The CSV button downloads the API's own CSV of the same query.
    const csv = await downloaded('.result');
    expect(csv).toBe((await query(body, 'text/csv')).body);
    expect(csv).toContain('B / A * 100');
    await checkAccessibility('insights (formula, compare)');
    await page.getByLabel('Show as', { exact: true }).selectOption('line');
    await page.waitForSelector('.result .chart canvas');
    await shot('insights-compare');
  });

  it('counts weekly active users and average events per user as the API does', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('');
    await page.getByLabel('Measure', { exact: true }).selectOption('weekly_active');
    await page.click('button:has-text("Add series")');
    await page.getByLabel('Event B', { exact: true }).selectOption('Page View');
    await page.getByLabel('Measure').nth(1).selectOption('per_user_avg');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    const expected = await query({
      kind: 'trends',
      from: '-6d',
      to: 'today',
      interval: 'day',
      series: [
        { event: null, math: 'weekly_active' },
        { event: 'Page View', math: 'per_user_avg' },
      ],
    });
    expect(expected.status).toBe(200);
    const [w, p] = expected.body.series;
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.result .table-wrap thead th')].some((th) =>
        th.textContent?.includes('Average per user'),
      ),
    );
    // The header can come before the rows (seen once at load 15): wait for every row and Total.
    await page.waitForFunction(
      (n) => document.querySelectorAll('.result .table-wrap tbody tr').length === n,
      w.labels.length + 1,
    );
    const cell = (v: number | null): string => (v === null ? '' : String(v));
    expect(await tableRows()).toEqual([
      ...w.labels.map((l: string, i: number) => [l, cell(w.values[i]), cell(p.values[i])]),
      ['Total', cell(w.total), cell(p.total)],
    ]);
    // Six users were active in the 7 days ending today (u7 and u8 were earlier).
    expect(w.values[w.values.length - 1]).toBe(6);
  });

  it('shows a rolling and a cumulative trend as the API answers them', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Page View');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    const shown = async (analysis: Record<string, unknown>) => {
      const expected = await query({
        kind: 'trends',
        from: '-6d',
        to: 'today',
        interval: 'day',
        series: [{ event: 'Page View', math: 'total' }],
        ...analysis,
      });
      expect(expected.status).toBe(200);
      const [a] = expected.body.series;
      const cell = (v: number | null): string => (v === null ? '' : String(v));
      const rows = [
        ...a.labels.map((l: string, i: number) => [l, cell(a.values[i])]),
        ['Total', cell(a.total)],
      ];
      await page.waitForFunction(
        (want) =>
          JSON.stringify(
            [...document.querySelectorAll('.result .table-wrap table tbody tr')].map((r) =>
              [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim()),
            ),
          ) === want,
        JSON.stringify(rows),
      );
      return a.values as number[];
    };
    await page.getByLabel('Analysis', { exact: true }).selectOption('rolling');
    await page.getByLabel('over', { exact: true }).fill('3');
    // Page views 6 days ago (two) and none on the two days before: the first day's mean of 3.
    expect((await shown({ analysis: 'rolling', rolling_window: 3 }))[0]).toBe(2 / 3);
    await page.getByLabel('Analysis', { exact: true }).selectOption('cumulative');
    // 2, 1, 2, 1, 1, 0, 1 page views a day, added up.
    expect(await shown({ analysis: 'cumulative' })).toEqual([2, 3, 5, 6, 7, 7, 8]);
  });

  it('saves a relative range to the board, which stays relative', async () => {
    await page.goto(screen('insights'));
    await page.reload();
    await page.getByLabel('Event A', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('this_month');
    await page.waitForSelector('.result .chart canvas');
    await page.getByLabel('Save this report to the board as', { exact: true }).fill('Sign-ups MTD');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');
    const views = await api('GET', `/api/v1/projects/${project.project_id}/views`);
    const saved = views.body.views.find((v: { name: string }) => v.name === 'Sign-ups MTD');
    expect(saved.query).toMatchObject({ from: 'start_of_month', to: 'today' });
    await page.goto(screen('boards'));
    await page.waitForSelector('.card:has(h2:has-text("Sign-ups MTD")) .chart canvas');
    expect(await page.textContent('.card:has(h2:has-text("Sign-ups MTD")) .card-head')).toContain(
      'This month',
    );
    const run = await api('POST', `/api/v1/projects/${project.project_id}/views/${saved.id}/run`);
    const totals = await tableRows('.card:has(h2:has-text("Sign-ups MTD")) .table-wrap');
    expect(totals[0]?.slice(1)).toEqual([String(run.body.series[0].total)]);
  });

  it('builds a cohort, shows its size, and filters Insights by it and a person property', async () => {
    await page.goto(screen('cohorts'));
    await page.waitForSelector('text=No cohort yet');
    await checkAccessibility('cohorts (empty)');
    await page.click('button:has-text("New cohort")');
    await page.getByLabel('Cohort name', { exact: true }).fill('Buyers');
    await page.getByLabel('Event', { exact: true }).selectOption('Purchase');
    await page.getByLabel('In the last (days)', { exact: true }).fill('30');
    await page.click('button:has-text("Save cohort")');
    await page.waitForSelector('.card.cohort h2:has-text("Buyers")');
    const list = await api('GET', `/api/v1/projects/${project.project_id}/cohorts`);
    cohortId = list.body.cohorts[0].id;
    expect(list.body.cohorts[0].conditions).toMatchObject([
      { kind: 'did_event', event: 'Purchase', count_op: 'gte', count: 1, within_days: 30 },
    ]);
    const size = await api(
      'GET',
      `/api/v1/projects/${project.project_id}/cohorts/${cohortId}/size`,
    );
    expect(size.body.size).toBe(2);
    await page.waitForSelector('.card.cohort .size strong[data-value="2"]');
    await checkAccessibility('cohorts');
    await shot('cohorts');

    // "Use as a filter": Insights counts the cohort's users; then any of (cohort, plan = free).
    await page.click('a:has-text("Use as a filter in Insights")');
    await page.waitForSelector('.result .chart canvas');
    await page.getByLabel('Show as', { exact: true }).selectOption('table');
    const withCohort = await query({
      kind: 'trends',
      from: '-29d',
      to: 'today',
      interval: 'day',
      series: [{ event: null, math: 'unique_users' }],
      filters: [{ property: 'cohort', op: 'in', value: [cohortId] }],
    });
    expect(withCohort.body.series[0].total).toBe(2);
    await page.waitForFunction((n) => {
      const rows = document.querySelectorAll('.result .table-wrap tbody tr');
      const last = rows[rows.length - 1];
      return last?.lastElementChild?.getAttribute('data-value') === n;
    }, String(withCohort.body.series[0].total));

    await page.click('button:has-text("Add filter")');
    const second = page.getByRole('group', { name: 'filter 2', exact: true });
    await second.getByLabel('Property', { exact: true }).selectOption('person.');
    await second.getByLabel('Person property name', { exact: true }).fill('plan');
    await second.getByLabel('Value', { exact: true }).fill('free');
    await page.getByLabel('Events must match', { exact: true }).selectOption('any');
    const either = await query({
      kind: 'trends',
      from: '-29d',
      to: 'today',
      interval: 'day',
      series: [{ event: null, math: 'unique_users' }],
      filters: [
        {
          any: [
            { property: 'cohort', op: 'in', value: [cohortId] },
            { property: 'person.plan', op: 'eq', value: 'free' },
          ],
        },
      ],
    });
    expect(either.status).toBe(200);
    // Buyers u1 and u3, free-plan u2 and u4.
    expect(either.body.series[0].total).toBe(4);
    await page.waitForFunction((n) => {
      const rows = document.querySelectorAll('.result .table-wrap tbody tr');
      return rows[rows.length - 1]?.lastElementChild?.getAttribute('data-value') === n;
    }, String(either.body.series[0].total));
    const shown = await tableRows();
    const s = either.body.series[0];
    expect(shown).toEqual([
      ...s.labels.map((l: string, i: number) => [l, String(s.values[i])]),
      ['Total', String(s.total)],
    ]);
    await checkAccessibility('insights (cohort and person filters)');
    await shot('insights-filters');
  });

  it('opens a user from Live events: profile, stream and the identity revealed from the vault', async () => {
    const ids = await pseudonymsOf(t, project.project_id, ['u1']);
    const u1 = ids.get('u1') ?? '';
    await page.goto(screen('live'));
    await page.waitForSelector(`#live-table a:has(code:text-is("${u1}"))`);
    await page.click(`#live-table a:has(code:text-is("${u1}"))`);
    await page.waitForSelector('#user-facts');
    expect(page.url()).toContain('/users?id=');
    const profile = await api('GET', `/api/v1/projects/${project.project_id}/users/${u1}`);
    const stream = await api('GET', `/api/v1/projects/${project.project_id}/users/${u1}/events`);
    expect(profile.body.event_count).toBe(4);
    expect(await page.getAttribute('#user-facts dd[data-value]', 'data-value')).toBe('4');
    await page.waitForSelector('#user-events-table tbody tr');
    const names = await page.$$eval('#user-events-table tbody th', (ths) =>
      ths.map((th) => th.textContent),
    );
    expect(names).toEqual(stream.body.events.map((e: { event: string }) => e.event));
    // The profile as stored: the plan, and no e-mail (it is sealed in the vault).
    expect(await page.textContent('#user-profile')).toContain('paid');
    expect(await page.textContent('main')).not.toContain(PERSON_EMAIL);
    await checkAccessibility('users');
    await shot('users');

    // Reveal: a wrong id shows nothing of theirs; the right one shows the sealed e-mail.
    await page.getByLabel('Id as your app sends it', { exact: true }).fill('u2');
    await page.click('button:has-text("Reveal")');
    await confirmingStepUp('text=That id is not this person');
    expect(await page.textContent('main')).not.toContain(PERSON_EMAIL);
    await page.getByLabel('Id as your app sends it', { exact: true }).fill('u1');
    await page.click('button:has-text("Reveal")');
    await confirmingStepUp(`dd:has-text("${PERSON_EMAIL}")`);
    // Both looks are on the record.
    const orgId = await page.evaluate(
      async () => (await (await fetch('/api/v1/auth/session')).json()).organisations[0].id,
    );
    const audit = await api('GET', `/api/v1/orgs/${orgId}/audit?kind=reveal`);
    expect(audit.body.entries.length).toBeGreaterThanOrEqual(2);
  });

  it('draws the paths after an event as a Sankey, with the numbers of the API', async () => {
    await page.goto(screen('flows'));
    await page.getByLabel('their first', { exact: true }).selectOption('Page View');
    await page.getByLabel('Steps', { exact: true }).selectOption('2');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    const expected = await query({
      kind: 'flows',
      from: '-6d',
      to: 'today',
      anchor: { event: 'Page View', direction: 'after' },
      steps: 2,
      max_paths_per_step: 5,
    });
    expect(expected.status).toBe(200);
    const rows: string[][] = [];
    const label = (e: string) => (e === '$other' ? 'Other events' : e);
    for (const s of expected.body.steps as {
      step: number;
      nodes: { event: string; count: number }[];
      links: { from: string; to: string; count: number }[];
      dropoff: number;
    }[]) {
      const where = s.step === 0 ? 'Anchor' : `${s.step} after`;
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
      if (s.step > 0) rows.push([where, 'Stopped (no further event)', String(s.dropoff), '']);
    }
    await page.waitForSelector('.sankey[data-drawn="true"] canvas', { timeout: 30_000 });
    await page.waitForFunction(
      (n) => document.querySelectorAll('.result .table-wrap tbody tr').length === n,
      rows.length,
    );
    expect(await tableRows()).toEqual(rows);
    // Six users viewed a page in the week; each is either followed or stopped at step 1.
    const [anchor, first] = expected.body.steps;
    expect(anchor.nodes[0].count).toBe(6);
    expect(
      first.nodes.reduce((a: number, n: { count: number }) => a + n.count, 0) + first.dropoff,
    ).toBe(6);
    await checkAccessibility('flows');
    await shot('flows');

    // Saved to the board, the flow is drawn there too, from the saved (relative) query.
    await page.getByLabel('Save this report to the board as', { exact: true }).fill('After a view');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');
    await page.goto(screen('boards'));
    const card = '.card:has(h2:has-text("After a view"))';
    await page.waitForSelector(`${card} .sankey[data-drawn="true"] canvas`, { timeout: 30_000 });
    expect(await page.textContent(`${card} .card-head`)).toContain('Last 7 days');
    expect(await tableRows(`${card} .table-wrap`)).toEqual(rows);
    await checkAccessibility('boards (flow)');
  });

  it('shows the lifecycle as stacked bars and a table, with the numbers of the API', async () => {
    await page.goto(screen('lifecycle'));
    await page.getByLabel('Doing', { exact: true }).selectOption('Page View');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    const expected = await query({
      kind: 'lifecycle',
      from: '-6d',
      to: 'today',
      interval: 'day',
      event: 'Page View',
    });
    expect(expected.status).toBe(200);
    const body = expected.body as Record<
      'new' | 'returning' | 'resurrecting' | 'dormant',
      number[]
    >;
    const labels = expected.body.labels as string[];
    // u1 to u6 viewed a page for the first time this week; u7 and u8 long before, not since.
    expect(body.new.reduce((a, b) => a + b, 0)).toBe(6);
    const rows = labels.map((label, i) => [
      label,
      ...(['new', 'returning', 'resurrecting', 'dormant'] as const).map((k) => String(body[k][i])),
    ]);
    await page.waitForSelector('.result .chart canvas', { timeout: 30_000 });
    await page.waitForFunction(
      (n) => document.querySelectorAll('.result .table-wrap tbody tr').length === n,
      rows.length,
    );
    expect(await tableHeader()).toEqual([
      'Interval',
      'New',
      'Returning',
      'Resurrecting',
      'Dormant',
    ]);
    expect(await tableRows()).toEqual(rows);
    const csv = await downloaded('.result');
    expect(csv.trim().split(/\r?\n/)[0]).toBe('start,new,returning,resurrecting,dormant');
    await checkAccessibility('lifecycle');
    await shot('lifecycle');

    // Saved to the board (a saved view), it is drawn there from the saved relative query.
    await page
      .getByLabel('Save this report to the board as', { exact: true })
      .fill('Page view lifecycle');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');
    await page.goto(screen('boards'));
    const card = '.card:has(h2:has-text("Page view lifecycle"))';
    await page.waitForSelector(`${card} .chart canvas`, { timeout: 30_000 });
    expect(await page.textContent(`${card} .card-head`)).toContain('Last 7 days');
    expect(await tableRows(`${card} .table-wrap`)).toEqual(rows);
  });

  it('shows retention per week and per month as the API answers the body it sends', async () => {
    const sent: unknown[] = [];
    const onRequest = (r: { url(): string; method(): string; postDataJSON(): unknown }): void => {
      if (r.method() === 'POST' && r.url().endsWith(`/projects/${project.project_id}/query`))
        sent.push(r.postDataJSON());
    };
    page.on('request', onRequest);
    await page.goto(screen('retention'));
    await page.getByLabel('Users who did', { exact: true }).selectOption('Signed Up');
    await page.getByLabel('and came back to do', { exact: true }).selectOption('Page View');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('30d');
    const pct = (n: number, size: number): string =>
      size > 0 ? `${((100 * n) / size).toFixed(1)}% (${n})` : `– (${n})`;
    for (const [period, periods] of [
      ['week', 2],
      ['month', 1],
    ] as const) {
      await page.getByLabel('Per', { exact: true }).selectOption(period);
      await page.getByLabel('Periods shown', { exact: true }).fill(String(periods));
      await page.getByLabel('Periods shown', { exact: true }).press('Tab');
      await page.waitForFunction(
        ([unit, n]) =>
          [...document.querySelectorAll('.result .table-wrap thead th')].map((th) => th.textContent)
            .length ===
            2 + Number(n) + 1 &&
          document.querySelector('.result .table-wrap thead th:last-child')?.textContent ===
            `${unit} ${n}`,
        [period, String(periods)],
      );
      await page.waitForLoadState('networkidle');
      const body = sent.at(-1) as Record<string, unknown>;
      expect(body).toMatchObject({
        kind: 'retention',
        from: '-29d',
        to: 'today',
        start_event: 'Signed Up',
        return_event: 'Page View',
        period,
        periods,
      });
      const expected = await query(body);
      expect(expected.status).toBe(200);
      const cohorts = expected.body.cohorts as { start: string; size: number; counts: number[] }[];
      // Everyone who signed up in the 30 days is in one cohort: u1, u2, u3, u5 and u7.
      expect(cohorts.reduce((a, c) => a + c.size, 0)).toBe(5);
      expect(await tableRows()).toEqual(
        cohorts.map((c) => [c.start, String(c.size), ...c.counts.map((n) => pct(n, c.size))]),
      );
      await checkAccessibility(`retention (per ${period})`);
    }
    // The counting selector: the body names the type (the default is left out), the hint says
    // what it means, and the grid is the API's answer to that body.
    const hints = {
      first_time: 'first start event ever',
      recurring: 'Every period in which a user does the start event',
      first_in_range: 'first start event in the date range',
    } as const;
    await page.getByLabel('Per', { exact: true }).selectOption('day');
    await page.getByLabel('Periods shown', { exact: true }).fill('3');
    await page.getByLabel('Periods shown', { exact: true }).press('Tab');
    for (const type of ['first_time', 'recurring', 'first_in_range'] as const) {
      const before = sent.length;
      await page.getByLabel('Counting', { exact: true }).selectOption(type);
      await expect
        .poll(() => page.getByLabel('Counting', { exact: true }).getAttribute('aria-describedby'), {
          timeout: 20_000,
        })
        .toBeTruthy();
      const hintId = await page
        .getByLabel('Counting', { exact: true })
        .getAttribute('aria-describedby');
      expect(await page.textContent(`#${hintId}`)).toContain(hints[type]);
      await expect.poll(() => sent.length > before, { timeout: 20_000 }).toBe(true);
      await page.waitForLoadState('networkidle');
      const body = sent.at(-1) as Record<string, unknown>;
      expect(body).toMatchObject({ kind: 'retention', period: 'day', periods: 3 });
      if (type === 'first_in_range') expect(body).not.toHaveProperty('retention_type');
      else expect(body.retention_type).toBe(type);
      const expected = await query(body);
      expect(expected.status).toBe(200);
      const cohorts = expected.body.cohorts as { start: string; size: number; counts: number[] }[];
      await expect
        .poll(tableRows)
        .toEqual(
          cohorts.map((c) => [c.start, String(c.size), ...c.counts.map((n) => pct(n, c.size))]),
        );
      await checkAccessibility(`retention (${type})`);
    }
    page.off('request', onRequest);
  });

  it('builds a funnel with every option, sending the API body and showing its answer', async () => {
    // A second journey, imported now: its own events, properties on every event.
    const now = Date.now();
    const at = (daysAgo: number, seconds: number): number =>
      now - daysAgo * DAY_MS - 3_600_000 + seconds * 1000;
    const shop: [string, string, number, number, Record<string, string>][] = [
      ['u9', 'Opened App', 4, 0, { platform: 'web', source: 'ads' }],
      ['u9', 'Added to Cart', 4, 60, { platform: 'web', source: 'ads' }],
      ['u9', 'Checked Out', 3, 0, { platform: 'web', source: 'ads' }],
      ['u10', 'Opened App', 4, 0, { platform: 'web', source: 'ads' }],
      ['u10', 'Added to Cart', 4, 120, { platform: 'web', source: 'ads' }],
      // Held constant, the platform changed: no conversion.
      ['u10', 'Checked Out', 4, 600, { platform: 'ios', source: 'ads' }],
      ['u11', 'Opened App', 3, 0, { platform: 'web', source: 'search' }],
      ['u11', 'Added to Cart', 3, 30, { platform: 'web', source: 'search' }],
      // Excluded between the cart and the checkout.
      ['u11', 'Support Chat', 3, 40, { platform: 'web', source: 'search' }],
      ['u11', 'Checked Out', 3, 300, { platform: 'web', source: 'search' }],
      // Checked out before adding to the cart: converts in any order only.
      ['u12', 'Opened App', 2, 0, { platform: 'web', source: 'search' }],
      ['u12', 'Checked Out', 2, 50, { platform: 'web', source: 'search' }],
      ['u12', 'Added to Cart', 2, 100, { platform: 'web', source: 'search' }],
      ['u13', 'Opened App', 2, 0, { platform: 'web', source: 'search' }],
    ];
    const res = await fetch(`${server.url}/import`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${project.secret}:`).toString('base64')}`,
      },
      body: JSON.stringify(
        shop.map(([user, event, daysAgo, seconds, props], i) => ({
          event,
          properties: {
            token: project.token,
            time: at(daysAgo, seconds),
            distinct_id: user,
            $insert_id: `shop-${i}`,
            ...props,
          },
        })),
      ),
    });
    expect(res.status).toBe(200);
    await pollUntil('the second journey queryable', async () => {
      const r = await api('GET', `/api/v1/projects/${project.project_id}/events`);
      return r.body.events?.length === 7;
    });

    const base = {
      kind: 'funnel',
      from: '-6d',
      to: 'today',
      steps: [{ event: 'Opened App' }, { event: 'Added to Cart' }, { event: 'Checked Out' }],
      window_seconds: 7 * 86_400,
    };
    const body = {
      ...base,
      order: 'any',
      exclusions: [{ event: 'Support Chat', after_step: 1, before_step: 2 }],
      hold_constant: ['platform'],
      breakdown: 'source',
      conversion_over_time: 'day',
    };
    // Each option changes the answer on its own, so a screen that dropped one would be seen.
    const last = async (extra: object): Promise<number> => {
      const r = await query({ ...base, ...extra });
      expect(r.status).toBe(200);
      return r.body.steps[2].count;
    };
    expect(await last({})).toBe(3);
    expect(await last({ order: 'any' })).toBe(4);
    expect(await last({ exclusions: body.exclusions })).toBe(2);
    expect(await last({ hold_constant: ['platform'] })).toBe(2);
    expect(await last({ order: 'any', exclusions: body.exclusions })).toBe(3);

    const sent: unknown[] = [];
    const onRequest = (r: { url(): string; method(): string; postDataJSON(): unknown }): void => {
      if (r.method() === 'POST' && r.url().endsWith(`/projects/${project.project_id}/query`))
        sent.push(r.postDataJSON());
    };
    page.on('request', onRequest);
    await page.goto(screen('funnels'));
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    await page.getByLabel('Step 1', { exact: true }).selectOption('Opened App');
    await page.getByLabel('Step 2', { exact: true }).selectOption('Added to Cart');
    await page.click('button:has-text("Add step")');
    await page.getByLabel('Step 3', { exact: true }).selectOption('Checked Out');
    await page.getByLabel('Later steps happen', { exact: true }).selectOption('any');
    await page.click('button:has-text("Add exclusion")');
    await page.getByLabel('Exclude users who did', { exact: true }).selectOption('Support Chat');
    await page.getByLabel('after', { exact: true }).selectOption('1');
    await page.getByLabel('and before', { exact: true }).selectOption('2');
    await page.click('button:has-text("Hold a property constant")');
    await page.getByLabel('Same value at every step of', { exact: true }).selectOption('platform');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('source');
    await page.getByLabel('Conversion over time', { exact: true }).selectOption('day');
    await page.waitForSelector('section[aria-label="Breakdown"] tbody tr');
    await page.waitForSelector('section[aria-label="Conversion over time"] .chart canvas');
    page.off('request', onRequest);
    // What the screen shows is the answer to exactly this body.
    expect(sent.at(-1)).toEqual(body);
    const expected = await query(body);
    expect(expected.status).toBe(200);
    const steps = expected.body.steps as {
      count: number;
      time_to_convert: Record<string, number | null> | null;
      time_from_start: Record<string, number | null> | null;
    }[];
    // u11's attempt is left out altogether; of the other four, u9 and u12 convert.
    expect(steps.map((s) => s.count)).toEqual([4, 3, 2]);
    expect((await tableRows('.result > .table-wrap')).map((r) => r[1])).toEqual(
      steps.map((s) => String(s.count)),
    );
    expect(await page.textContent('.headline')).toContain('50.0%');

    // Time to convert: the quartiles and p90 of each step, then of the whole funnel.
    const duration = (s: number | null): string =>
      s === null
        ? '–'
        : s < 90
          ? `${Math.round(s)} s`
          : s < 5400
            ? `${Math.round(s / 60)} min`
            : s < 172_800
              ? `${(s / 3600).toFixed(1)} h`
              : `${(s / 86_400).toFixed(1)} days`;
    const quartiles = (q: Record<string, number | null> | null): string[] =>
      ['p25', 'p50', 'p75', 'p90'].map((k) => duration(q?.[k] ?? null));
    expect(await tableRows('section[aria-label="Time to convert"] .table-wrap')).toEqual([
      ['2. Added to Cart (from step 1)', ...quartiles(steps[1]!.time_to_convert)],
      ['3. Checked Out (from step 2)', ...quartiles(steps[2]!.time_to_convert)],
      ['Whole funnel (step 1 to 3)', ...quartiles(steps[2]!.time_from_start)],
    ]);
    // u9 took a day less a minute to check out; u12 under two minutes from the entry.
    expect(steps[2]!.time_from_start?.p90).toBeGreaterThan(3600);

    // Conversion over time: every day of the range, entered and converted as the API counts.
    const overTime = expected.body.conversion_over_time as {
      rows: { start: string; entered: number; converted: number }[];
    };
    expect(overTime.rows).toHaveLength(7);
    const share = (a: number, b: number): string =>
      b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '–';
    expect(await tableRows('section[aria-label="Conversion over time"] .table-wrap')).toEqual(
      overTime.rows.map((r) => [
        r.start,
        String(r.entered),
        String(r.converted),
        share(r.converted, r.entered),
      ]),
    );
    expect(overTime.rows.reduce((a, r) => a + r.converted, 0)).toBe(2);

    // The breakdown by the entry's source.
    const breakdowns = expected.body.breakdowns as {
      breakdown_value: string;
      steps: { count: number }[];
    }[];
    expect(await tableRows('section[aria-label="Breakdown"] .table-wrap')).toEqual(
      breakdowns.map((b) => [
        b.breakdown_value,
        ...b.steps.map((s) => String(s.count)),
        share(b.steps[2]!.count, b.steps[0]!.count),
      ]),
    );
    expect(breakdowns.map((b) => [b.breakdown_value, b.steps[2]!.count]).sort()).toEqual([
      ['ads', 1],
      ['search', 1],
    ]);
    await checkAccessibility('funnels (options)');
    await shot('funnels-options');

    // A reload keeps every option (the report lives in the URL).
    await page.reload();
    await page.waitForSelector('section[aria-label="Breakdown"] tbody tr');
    expect(await page.getByLabel('Exclude users who did', { exact: true }).inputValue()).toBe(
      'Support Chat',
    );
    expect(await page.getByLabel('Later steps happen', { exact: true }).inputValue()).toBe('any');

    // Saved to the board, the funnel keeps its options and shows the same parts there.
    await page.getByLabel('Save this report to the board as', { exact: true }).fill('Shop funnel');
    await page.click('button:has-text("Save to board")');
    await page.waitForSelector('text=Saved.');
    await page.goto(screen('boards'));
    const card = '.card:has(h2:has-text("Shop funnel"))';
    await page.waitForSelector(`${card} section[aria-label="Breakdown"] tbody tr`);
    expect(await tableRows(`${card} section[aria-label="Breakdown"] .table-wrap`)).toEqual(
      breakdowns.map((b) => [
        b.breakdown_value,
        ...b.steps.map((s) => String(s.count)),
        share(b.steps[2]!.count, b.steps[0]!.count),
      ]),
    );
    expect(
      await tableRows(`${card} section[aria-label="Conversion over time"] .table-wrap`),
    ).toHaveLength(7);
    await checkAccessibility('boards (funnel with options)');
  });

  it('says what to do when a shared funnel names an unknown property, and when nobody entered', async () => {
    const state = {
      steps: ['Opened App', 'Checked Out'],
      hold: ['platfrom'],
      range: { preset: '7d', from: '-6d', to: 'today' },
    };
    await page.goto(`${screen('funnels')}?q=${encodeURIComponent(JSON.stringify(state))}`);
    await page.reload();
    // The API's 400 names the close match; the screen adds what to do.
    const alert = page.locator('.result [role="alert"]');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('platform');
    expect(await alert.textContent()).toContain('Adjust the report settings');
    await checkAccessibility('funnels (error)');
    // Fixed on the screen, the funnel runs.
    await page.getByLabel('Same value at every step of', { exact: true }).selectOption('platform');
    await page.waitForSelector('.result > .table-wrap tbody tr');
    expect(await page.isVisible('.result [role="alert"]')).toBe(false);
    // Nobody did the first step today: the empty state says how to get an answer.
    await page.getByLabel('Date range preset', { exact: true }).selectOption('today');
    await page.waitForSelector('.result h3:has-text("Nobody entered this funnel")');
    expect(await page.textContent('.result .notice')).toContain('widen the date range');
    await checkAccessibility('funnels (empty)');
  });

  it('is usable by keyboard alone: skip link, menu and report builder', async () => {
    // A fresh load, so that the keyboard starts from the top of the page.
    await page.goto(screen('funnels'));
    await page.reload();
    await page.waitForSelector('.result table');
    const report = page.url();
    const focused = (): Promise<string> =>
      page.evaluate(() => {
        const el = document.activeElement;
        return `${el?.tagName.toLowerCase()}#${el?.id ?? ''}:${el?.textContent?.trim().slice(0, 40) ?? ''}`;
      });
    /** Presses Tab until `match` has the focus (at most 60 times). */
    const tabTo = async (match: RegExp): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        if (match.test(await focused())) return;
      }
      throw new Error(`Tab never reached ${match}; last ${await focused()}`);
    };
    // The first Tab offers "Skip to content", which moves the focus and keeps the report open.
    await page.keyboard.press('Tab');
    expect(await focused()).toMatch(/^a#:Skip to content/);
    await page.keyboard.press('Enter');
    expect(await focused()).toMatch(/^main#main:/);
    expect(page.url()).toBe(report);
    // The builder: "Add step" by keyboard adds a step.
    const steps = await page.$$eval('ol.steps li', (li) => li.length);
    await tabTo(/^button#:Add step$/);
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      (n) => document.querySelectorAll('ol.steps li').length === n + 1,
      steps,
    );
    // The menu: Retention opened with Enter.
    await page.goto(screen('insights'));
    await page.reload();
    await page.waitForSelector('h1');
    await tabTo(/^a#:Retention$/);
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1:has-text("Retention")');
  });

  it('counts users by the days they did an event (frequency), with the numbers of the API', async () => {
    await page.goto(screen('frequency'));
    await page.getByLabel('Users who did', { exact: true }).selectOption('Page View');
    await page.getByLabel('Date range preset', { exact: true }).selectOption('7d');
    const ask = (per: string) =>
      query({ kind: 'frequency', from: '-6d', to: 'today', series: [{ event: 'Page View' }], per });
    type Period = {
      start: string;
      end: string;
      complete: boolean;
      users: number;
      counts: number[];
      cumulative: number[];
    };
    const expectRows = async (periods: Period[], of: 'counts' | 'cumulative') => {
      const rows = periods.map((p) => [
        'Page View',
        `${p.start} – ${p.end}${p.complete ? '' : ' (partial)'}`,
        String(p.users),
        ...p[of].map(String),
      ]);
      await page.waitForFunction(
        (want) => {
          const cells = [...document.querySelectorAll('.result .table-wrap tbody tr')].map((r) =>
            [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim()),
          );
          return JSON.stringify(cells) === want;
        },
        JSON.stringify(rows),
        { timeout: 20_000 },
      );
      expect(await tableRows()).toEqual(rows);
    };
    const range = await ask('range');
    expect(range.status).toBe(200);
    const [whole] = range.body.series[0].periods as Period[];
    // Six users viewed a page in the week (u1, u2 on two days; u3 to u6 on one), at least.
    expect(whole!.users).toBeGreaterThanOrEqual(6);
    expect(whole!.counts.length).toBe(7);
    await expectRows([whole!], 'counts');
    expect(await tableHeader()).toEqual([
      'Series',
      'Period',
      'Users',
      '1 day',
      ...[2, 3, 4, 5, 6, 7].map((k) => `${k} days`),
    ]);
    await page.waitForSelector('.result .uplot');
    await checkAccessibility('frequency');
    await shot('frequency');
    // "N or more" reads the cumulative counts; per week, one row per week the range touches.
    await page.getByLabel('Count users on', { exact: true }).selectOption('at_least');
    await expectRows([whole!], 'cumulative');
    await page.getByLabel('of', { exact: true }).selectOption('week');
    const weekly = await ask('week');
    await expectRows(weekly.body.series[0].periods as Period[], 'cumulative');
    // Broken down by the person's plan: a row per plan and week, named as the API names them.
    await page.getByLabel('of', { exact: true }).selectOption('range');
    await page.getByLabel('Breakdown by', { exact: true }).selectOption('person.');
    await page.getByLabel('Breakdown person property', { exact: true }).fill('plan');
    const byPlan = await query({
      kind: 'frequency',
      from: '-6d',
      to: 'today',
      series: [{ event: 'Page View' }],
      breakdown: 'person.plan',
    });
    expect(byPlan.status).toBe(200);
    const segments = byPlan.body.series as {
      breakdown_kind: string;
      breakdown_value: string | null;
      periods: Period[];
    }[];
    expect(segments.length).toBeGreaterThan(1);
    const planRows = segments.flatMap((s) =>
      s.periods.map((p) => [
        `Page View · ${s.breakdown_kind === 'not_set' ? '(not set)' : s.breakdown_kind === 'other' ? 'Other values' : s.breakdown_value}`,
        `${p.start} – ${p.end}`,
        String(p.users),
        ...p.cumulative.map(String),
      ]),
    );
    await page.waitForFunction(
      (want) =>
        JSON.stringify(
          [...document.querySelectorAll('.result .table-wrap tbody tr')].map((r) =>
            [...r.children].map((c) => c.getAttribute('data-value') ?? c.textContent?.trim()),
          ),
        ) === want,
      JSON.stringify(planRows),
      { timeout: 20_000 },
    );
  });

  it('works on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const name of ['flows', 'lifecycle', 'frequency', 'cohorts', 'insights']) {
      await page.goto(screen(name));
      await page.waitForSelector('h1');
      await page.waitForLoadState('networkidle');
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(wide, name).toBeLessThanOrEqual(390);
      await checkAccessibility(`${name} (phone)`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('ran without a CSP violation or a page error', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
