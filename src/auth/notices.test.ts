// Security notices: wording and escaping, SMTP settings from the environment, and delivery through a real SMTP server.
import net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import {
  MailSendError,
  NoticeOutbox,
  createSmtpMailer,
  isNoticeAddress,
  renderNotice,
  smtpConfigFromEnv,
  type Mailer,
  type NoticeDetails,
  type NoticeKind,
  type RenderedNotice,
  type SmtpConfig,
} from './notices.js';

const DASHBOARD = 'https://analytics.example.com/';
const AT = new Date('2025-03-04T05:06:07.890Z');
const TO = 'alice@example.com';
const SIGN_IN_AT_DASHBOARD = /sign in at https:\/\/analytics\.example\.com\//i;

function render(kind: NoticeKind, details: NoticeDetails = {}): RenderedNotice {
  return renderNotice(kind, details, AT, { dashboardUrl: DASHBOARD });
}

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (l) => lines.push(l) });
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, logger, parsed };
}

/** Every kind with a phrase saying what happened. */
const WHAT_HAPPENED: Record<NoticeKind, RegExp> = {
  factor_added: /new passkey "Work laptop" was added/,
  factor_removed: /passkey "Work laptop" was removed/,
  lockout: /too many failed sign-in attempts.*paused for 15 minutes/,
  new_device: /device it has not used before: Firefox 131 on macOS/,
  lockdown:
    /organisation "Acme" was locked down by owner@example\.com: every session was signed out and every secret API key was revoked/,
  recovery_code_used: /recovery codes was used to sign in/,
  password_changed: /password of your Sillage account was changed/,
  key_created:
    /secret API key "ci-export" was created in the organisation "Acme" by owner@example\.com/,
  sessions_revoked: /All sessions of your Sillage account were signed out by owner@example\.com/,
  org_access_changed:
    /sessions were signed out of the organisation "Acme" by owner@example\.com.*Only that organisation is affected/,
  account_reset:
    /Every sign-in factor of your Sillage account was removed by the organisation "Acme" by owner@example\.com/,
  privacy_loosened: /The privacy policy of the project was loosened by owner@example\.com/,
  access_alert: /unusual access to data by owner@example\.com in the organisation "Acme"/,
};

const FULL_DETAILS: NoticeDetails = {
  factorKind: 'passkey',
  factorLabel: 'Work laptop',
  device: 'Firefox 131 on macOS',
  place: 'Lyon, FR',
  actor: 'owner@example.com',
  orgName: 'Acme',
  keyName: 'ci-export',
  retryAfterMinutes: 15,
};

const KINDS = Object.keys(WHAT_HAPPENED) as NoticeKind[];

describe('renderNotice', () => {
  it.each(KINDS)('%s says what happened, when, and how to dispute it', (kind) => {
    const n = render(kind, FULL_DETAILS);
    expect(n.kind).toBe(kind);
    expect(n.subject.startsWith('[Sillage] ')).toBe(true);
    expect(n.text).toMatch(WHAT_HAPPENED[kind]);
    expect(n.text).toContain('When: 2025-03-04T05:06:07Z (UTC)');
    // NIST SP 800-63B §4: instructions for disputing the event, with where to go.
    expect(n.text).toContain("If this wasn't you:");
    expect(n.text).toMatch(SIGN_IN_AT_DASHBOARD);
    expect(n.text).toMatch(/owner/);
    expect(n.html).toContain(`<a href="${DASHBOARD}">${DASHBOARD}</a>`);
    expect(n.html).toContain('If this wasn&#39;t you:');
  });

  it.each(KINDS.filter((k) => k !== 'lockdown'))(
    '%s offers sign-out of sessions and a lock-down through an owner',
    (kind) => {
      const { text } = render(kind, FULL_DETAILS);
      expect(text).toContain('sign out all other sessions');
      expect(text).toContain('lock the organisation down');
    },
  );

  it('tells the recipient of a lock-down to reach another owner first', () => {
    const { text } = render('lockdown', FULL_DETAILS);
    expect(text).toContain('contact another owner of your organisation before anything else');
  });

  it('names the device and the coarse place of a new sign-in', () => {
    const { subject, text } = render('new_device', FULL_DETAILS);
    expect(subject).toBe('[Sillage] New sign-in to your Sillage account from Firefox 131 on macOS');
    expect(text).toContain('Device: Firefox 131 on macOS');
    expect(text).toContain('Place (approximate): Lyon, FR');
  });

  it('words every factor kind and works without any detail', () => {
    expect(render('factor_added', { factorKind: 'totp' }).text).toContain(
      'A new authenticator app was added',
    );
    expect(render('factor_added', { factorKind: 'recovery_codes' }).subject).toContain(
      'New recovery codes were generated',
    );
    for (const kind of KINDS) {
      const n = render(kind);
      expect(n.text).toMatch(SIGN_IN_AT_DASHBOARD);
      expect(n.text).not.toMatch(/undefined|null|NaN/);
    }
    expect(render('lockout', { retryAfterMinutes: Number.NaN }).text).toContain(
      'paused for a while',
    );
  });

  it('uses the product name it is given', () => {
    const n = renderNotice('password_changed', {}, AT, {
      productName: 'Acme Analytics',
      dashboardUrl: DASHBOARD,
    });
    expect(n.subject).toBe(
      '[Acme Analytics] The password of your Acme Analytics account was changed',
    );
  });

  it('escapes every value in the HTML', () => {
    const evil = `<script>alert("x")</script> "quoted" & 'single' <img src=x onerror=alert(1)>`;
    const details: NoticeDetails = {
      factorKind: 'passkey',
      factorLabel: evil,
      device: evil,
      place: evil,
      actor: evil,
      orgName: evil,
      keyName: evil,
    };
    for (const kind of KINDS) {
      const { html, text } = render(kind, details);
      expect(html).not.toContain('<script');
      expect(html).not.toContain('<img');
      expect(html).not.toContain('"x"');
      // After removing the tags the template writes, no markup remains.
      const stripped = html
        .replace(/<!doctype html>/, '')
        .replace(/<\/?(html|head|body|p|ul|li|strong|br)\b[^>]*>/g, '')
        .replace(/<meta charset="utf-8">/, '')
        .replace(/<a href="https:\/\/analytics\.example\.com\/">/g, '')
        .replace(/<\/a>/g, '');
      expect(stripped).not.toMatch(/[<>]/);
      // The text part keeps the value readable (it is not HTML).
      if (kind !== 'lockout' && kind !== 'password_changed' && kind !== 'recovery_code_used') {
        expect(text).toContain('<script>alert("x")</script>');
      }
    }
    expect(render('factor_added', details).html).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &quot;quoted&quot; &amp; &#39;single&#39;',
    );
  });

  it('keeps line breaks in values out of the subject and the text layout', () => {
    const injected = 'Firefox\r\nBcc: victim@example.net\r\n\r\nClick http://evil.example';
    const details: NoticeDetails = {
      device: injected,
      orgName: injected,
      factorLabel: injected,
      keyName: injected,
      actor: injected,
      place: 'Lyon\u2028Injected: line',
    };
    for (const kind of KINDS) {
      const { subject, text } = render(kind, details);
      expect(subject).not.toMatch(/[\r\n]/);
      for (const l of text.split('\n')) {
        expect(l.startsWith('Bcc:')).toBe(false);
        expect(l.startsWith('Click')).toBe(false);
        expect(l.startsWith('Injected:')).toBe(false);
      }
    }
    expect(render('new_device', details).subject).toBe(
      '[Sillage] New sign-in to your Sillage account from Firefox Bcc: victim@example.net Click http://evil.example',
    );
    expect(
      renderNotice('lockout', {}, AT, {
        productName: 'Evil\r\nBcc: x@y.z',
        dashboardUrl: DASHBOARD,
      }).subject,
    ).not.toMatch(/[\r\n]/);
  });

  it('removes bidi overrides and shortens long values', () => {
    const { text } = render('factor_added', {
      factorKind: 'passkey',
      factorLabel: 'abc\u202Egnp.exe' + 'x'.repeat(500),
    });
    expect(text).not.toContain('\u202E');
    const label = /passkey "([^"]*)"/.exec(text)?.[1] ?? '';
    expect(Array.from(label)).toHaveLength(100);
    expect(label.endsWith('…')).toBe(true);
  });

  it('refuses a dashboard URL that is not http(s)', () => {
    for (const dashboardUrl of ['javascript:alert(1)', 'not a url', '']) {
      expect(() => renderNotice('lockout', {}, AT, { dashboardUrl })).toThrow(AppError);
    }
  });

  it('still renders when the time is invalid', () => {
    const n = renderNotice('lockout', {}, new Date(Number.NaN), { dashboardUrl: DASHBOARD });
    expect(n.text).toContain('When: an unknown time (UTC)');
  });
});

describe('smtpConfigFromEnv', () => {
  const FROM = 'Sillage <noreply@example.com>';
  const SECRET = 'S3cr3t-Pa55';

  function parse(url: string | undefined, from: string | null = FROM) {
    return smtpConfigFromEnv({ SILLAGE_SMTP_URL: url, SILLAGE_SMTP_FROM: from ?? undefined });
  }

  function failure(url: string, from: string | null = FROM): AppError {
    try {
      parse(url, from);
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      return error as AppError;
    }
    throw new Error('expected an error');
  }

  it('is null when SILLAGE_SMTP_URL is unset or empty', () => {
    expect(smtpConfigFromEnv({})).toBeNull();
    expect(parse('')).toBeNull();
    expect(parse('   ')).toBeNull();
  });

  it('reads smtp:// with STARTTLS required by default and decodes the credentials', () => {
    expect(parse(`smtp://mailer%40example.com:p%40ss%3Aword@mail.example.com:2525`)).toEqual({
      host: 'mail.example.com',
      port: 2525,
      secure: false,
      requireTls: true,
      user: 'mailer@example.com',
      password: 'p@ss:word',
      from: FROM,
      rejectUnauthorized: true,
    } satisfies SmtpConfig);
  });

  it('reads smtps:// with implicit TLS on 465 and defaults smtp:// to 587', () => {
    expect(parse(`smtps://u:${SECRET}@mail.example.com`)).toMatchObject({
      port: 465,
      secure: true,
      requireTls: false,
    });
    expect(parse(`smtp://u:${SECRET}@mail.example.com`)).toMatchObject({ port: 587 });
  });

  it('reads starttls and tls_reject_unauthorized', () => {
    const relay = parse('smtp://relay.internal:25?starttls=optional&tls_reject_unauthorized=0');
    expect(relay).toEqual({
      host: 'relay.internal',
      port: 25,
      secure: false,
      requireTls: false,
      from: FROM,
      rejectUnauthorized: false,
    });
    expect(parse(`smtp://u:${SECRET}@h.example:25?starttls=required`)?.requireTls).toBe(true);
    expect(parse(`smtp://u:${SECRET}@127.0.0.1:25?starttls=optional`)?.requireTls).toBe(false);
    expect(parse('smtp://[::1]:25')?.host).toBe('::1');
  });

  it.each([
    [`smtp://u:${SECRET}@:587`, /no host/],
    ['smtp://', /no host/],
    [`smtp://u:${SECRET}@mail.example.com:99999`, /invalid port/],
    [`smtp://u:${SECRET}@mail.example.com:abc`, /invalid port/],
    [`smtp://u:${SECRET}@mail.example.com:0`, /invalid port/],
    [`http://u:${SECRET}@mail.example.com`, /must start with smtp:\/\/ or smtps:\/\//],
    [`mail.example.com`, /not a valid URL/],
    [`smtp://u:${SECRET}@mail.example.com/inbox`, /must not have a path/],
    [`smtp://u:${SECRET}@mail.example.com?starttls=maybe`, /starttls must be/],
    [`smtps://u:${SECRET}@mail.example.com?starttls=required`, /smtp:\/\/ only/],
    [`smtp://u:${SECRET}@mail.example.com?verify=no`, /"verify"; known parameters/],
    [`smtp://u:${SECRET}@mail.example.com?starttls=required&starttls=optional`, /repeats/],
    [`smtp://u:${SECRET}@mail.example.com?tls_reject_unauthorized=no`, /must be 0 or 1/],
    [`smtp://u:${SECRET}@mail.example.com?starttls=optional`, /password unencrypted/],
    [`smtp://u@mail.example.com`, /user but no password/],
    [`smtp://:${SECRET}@mail.example.com`, /password but no user/],
    [`smtp://u:${SECRET}%zz@mail.example.com`, /malformed percent-encoding/],
  ])('rejects %s precisely without printing the password', (url, problem) => {
    const error = failure(url);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/^SILLAGE_SMTP_URL/);
    expect(error.message).toMatch(problem);
    expect(error.message).not.toContain(SECRET);
    expect(String(error.stack)).not.toContain(SECRET);
    expect(error.cause).toBeUndefined();
  });

  it('requires a one-line SILLAGE_SMTP_FROM address', () => {
    const url = `smtps://u:${SECRET}@mail.example.com`;
    expect(failure(url, null).message).toMatch(/^SILLAGE_SMTP_FROM is required/);
    expect(failure(url, 'Sillage <a@b.example>\r\nBcc: x@y.example').message).toMatch(
      /^SILLAGE_SMTP_FROM must be one line/,
    );
    expect(failure(url, 'Sillage').message).toMatch(/^SILLAGE_SMTP_FROM must be an address/);
    expect(parse(url, 'noreply@example.com')?.from).toBe('noreply@example.com');
  });
});

describe('isNoticeAddress', () => {
  it('accepts one bare address and nothing that could add recipients or headers', () => {
    expect(isNoticeAddress('alice@example.com')).toBe(true);
    expect(isNoticeAddress('a.b+tag@sub.example.co.uk')).toBe(true);
    for (const bad of [
      'alice@example.com, eve@example.net',
      'alice@example.com\r\nBcc: eve@example.net',
      'Alice <alice@example.com>',
      'alice',
      'alice@localhost',
      '',
      `${'a'.repeat(250)}@example.com`,
    ]) {
      expect(isNoticeAddress(bad)).toBe(false);
    }
  });
});

/** A mailer whose sends are settled by the test. */
function manualMailer() {
  const sent: string[] = [];
  const pending: { subject: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const mailer: Mailer = {
    send(message) {
      return new Promise<void>((resolve, reject) => {
        pending.push({
          subject: message.subject,
          resolve: () => {
            sent.push(message.subject);
            resolve();
          },
          reject,
        });
      });
    },
  };
  return { mailer, sent, pending };
}

function noticeNamed(subject: string): RenderedNotice {
  return { kind: 'lockout', subject, text: 'text', html: '<p>html</p>' };
}

/** Lets pending promise callbacks run (the outbox worker is asynchronous). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('NoticeOutbox', () => {
  it('drops the oldest waiting notice when full and logs the count', async () => {
    const { mailer, sent, pending } = manualMailer();
    const { logger, parsed } = capture();
    const outbox = new NoticeOutbox(mailer, logger, { maxQueued: 2 });
    for (const s of ['1', '2', '3', '4']) expect(outbox.enqueue(TO, noticeNamed(s))).toBe(true);
    // '1' is on the wire, '2' and '3' waited, '4' pushed '2' out.
    expect(outbox.size).toBe(2);
    expect(outbox.dropped).toBe(1);
    expect(parsed()).toContainEqual(
      expect.objectContaining({
        msg: 'notice outbox full: dropped the oldest notice',
        rejected: 1,
      }),
    );
    const drained = outbox.drain();
    while (sent.length < 3) {
      await tick();
      pending.shift()?.resolve();
    }
    await drained;
    expect(sent).toEqual(['1', '3', '4']);
  });

  it('never throws to the caller, even when the mailer throws synchronously', async () => {
    const { logger, parsed } = capture();
    const mailer: Mailer = {
      send() {
        throw new Error('boom alice@example.com');
      },
    };
    const sleeps: number[] = [];
    const outbox = new NoticeOutbox(mailer, logger, {
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    });
    expect(outbox.enqueue(TO, noticeNamed('x'))).toBe(true);
    await outbox.drain();
    expect(sleeps).toEqual([1_000, 5_000]);
    expect(parsed().at(-1)).toMatchObject({ msg: 'notice e-mail abandoned', code: 'UNKNOWN' });
  });

  it('refuses an address that is not a single bare address', () => {
    const { logger, lines } = capture();
    const outbox = new NoticeOutbox(manualMailer().mailer, logger);
    expect(outbox.enqueue('a@example.com\r\nBcc: b@example.com', noticeNamed('x'))).toBe(false);
    expect(outbox.size).toBe(0);
    expect(lines.join('\n')).not.toContain('example.com');
  });

  it('close() waits at most its timeout, cuts a retry wait short and refuses new notices', async () => {
    const { logger, parsed } = capture();
    const mailer: Mailer = {
      send: () => Promise.reject(new MailSendError('ECONNREFUSED', undefined, false)),
    };
    // Real sleep with an hour-long backoff: only the abort can end it.
    const outbox = new NoticeOutbox(mailer, logger, { retryDelaysMs: [3_600_000] });
    outbox.enqueue(TO, noticeNamed('a'));
    outbox.enqueue(TO, noticeNamed('b'));
    const started = Date.now();
    await outbox.close(50);
    await outbox.drain();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(outbox.size).toBe(0);
    expect(parsed()).toContainEqual(
      expect.objectContaining({
        msg: 'notice outbox closed before delivering everything',
        rejected: 2,
      }),
    );
    expect(outbox.enqueue(TO, noticeNamed('c'))).toBe(false);
  });

  it('close() returns as soon as the queue is empty', async () => {
    const { mailer, pending } = manualMailer();
    const outbox = new NoticeOutbox(mailer, capture().logger);
    outbox.enqueue(TO, noticeNamed('a'));
    const closing = outbox.close(60_000);
    await tick();
    pending.shift()?.resolve();
    await closing;
    expect(outbox.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Integration: a real SMTP server on 127.0.0.1.

interface Received {
  raw: string;
  from: string | false;
  to: string[];
  user: string | undefined;
}

interface TestServer {
  port: number;
  received: Received[];
  dataCalls: number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * Starts an SMTP server without STARTTLS on an ephemeral port. `reject(n)` can fail the n-th
 * DATA (1-based) with an SMTP error.
 */
async function startServer(
  options: Partial<SMTPServerOptions> & {
    reject?: (call: number) => { code: number; message: string } | undefined;
  } = {},
): Promise<TestServer> {
  const { reject, ...serverOptions } = options;
  const state: TestServer = {
    port: 0,
    received: [],
    dataCalls: 0,
    close: () => Promise.resolve(),
  };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    disableReverseLookup: true,
    closeTimeout: 100,
    ...serverOptions,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        state.dataCalls += 1;
        const failure = reject?.(state.dataCalls);
        if (failure) {
          callback(Object.assign(new Error(failure.message), { responseCode: failure.code }));
          return;
        }
        state.received.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          from: session.envelope.mailFrom === false ? false : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.server.address() as net.AddressInfo).port;
  state.close = () => new Promise<void>((resolve) => server.close(resolve));
  servers.push(state);
  return state;
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function plainConfig(port: number, extra: Partial<SmtpConfig> = {}): SmtpConfig {
  return {
    host: '127.0.0.1',
    port,
    secure: false,
    requireTls: false,
    from: 'Sillage <noreply@example.com>',
    ...extra,
  };
}

/** Header block (unfolded, RFC 5322 §2.2.3) and quoted-printable-decoded text part of a message. */
function parseRaw(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const h of raw
    .slice(0, split)
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')) {
    const colon = h.indexOf(':');
    headers.set(h.slice(0, colon).toLowerCase(), h.slice(colon + 1).trim());
  }
  const textPart = /Content-Type: text\/plain[^]*?\r\n\r\n([^]*?)\r\n--/i.exec(raw)?.[1] ?? '';
  const isQp = /Content-Type: text\/plain[^]*?Content-Transfer-Encoding: quoted-printable/i.test(
    raw,
  );
  const text = isQp
    ? Buffer.from(
        textPart
          .replace(/=\r\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      ).toString('utf8')
    : textPart;
  return { headers, text: text.replace(/\r\n/g, '\n') };
}

function recordingSleep() {
  const sleeps: number[] = [];
  const sleep = (ms: number) => {
    sleeps.push(ms);
    return Promise.resolve();
  };
  return { sleeps, sleep };
}

const ALLOWED_LOG_KEYS = new Set([
  'time',
  'level',
  'msg',
  'code',
  'kind',
  'status',
  'queued',
  'rejected',
]);

function expectSafeLogs(lines: string[], secrets: string[]): void {
  for (const l of lines) {
    for (const key of Object.keys(JSON.parse(l) as object)) expect(ALLOWED_LOG_KEYS).toContain(key);
    for (const secret of secrets) expect(l).not.toContain(secret);
  }
}

describe('SMTP delivery (integration, smtp-server on 127.0.0.1)', () => {
  it('delivers a notice with the right To, Subject and body', async () => {
    const server = await startServer();
    const { logger, lines } = capture();
    const outbox = new NoticeOutbox(createSmtpMailer(plainConfig(server.port), logger), logger);
    const notice = render('new_device', FULL_DETAILS);
    expect(outbox.enqueue(TO, notice)).toBe(true);
    await outbox.drain();

    expect(server.received).toHaveLength(1);
    const got = server.received[0]!;
    expect(got.from).toBe('noreply@example.com');
    expect(got.to).toEqual([TO]);
    const { headers, text } = parseRaw(got.raw);
    expect(headers.get('to')).toBe(TO);
    expect(headers.get('subject')).toBe(notice.subject);
    expect(headers.get('auto-submitted')).toBe('auto-generated');
    expect(text).toBe(notice.text);
    expect(got.raw).toContain('Content-Type: text/html');
    expect(lines).toEqual([]);
  });

  it('authenticates with PLAIN', async () => {
    const server = await startServer({
      authOptional: false,
      authMethods: ['PLAIN'],
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'mailer' && auth.password === 'hunter2-secret') {
          callback(null, { user: 'mailer' });
        } else {
          callback(new Error('Invalid username or password'));
        }
      },
    });
    const { logger } = capture();
    const mailer = createSmtpMailer(
      plainConfig(server.port, { user: 'mailer', password: 'hunter2-secret' }),
      logger,
    );
    await mailer.send({ to: TO, subject: 's', text: 't', html: '<p>h</p>' });
    expect(server.received.map((r) => r.user)).toEqual(['mailer']);
  });

  it('gives up at once on a wrong password and logs only the code', async () => {
    const server = await startServer({
      authOptional: false,
      authMethods: ['PLAIN'],
      allowInsecureAuth: true,
      onAuth(_auth, _session, callback) {
        callback(new Error('Invalid username or password'));
      },
    });
    const { logger, lines, parsed } = capture();
    const { sleeps, sleep } = recordingSleep();
    const outbox = new NoticeOutbox(
      createSmtpMailer(
        plainConfig(server.port, { user: 'mailer', password: 'wrong-pw-42' }),
        logger,
      ),
      logger,
      { sleep },
    );
    outbox.enqueue(TO, render('lockout'));
    await outbox.drain();
    expect(server.received).toHaveLength(0);
    expect(sleeps).toEqual([]); // 535 is permanent: no retry
    expect(parsed().at(-1)).toMatchObject({ msg: 'notice e-mail abandoned', code: 'EAUTH' });
    expectSafeLogs(lines, ['wrong-pw-42', TO, 'mailer']);
  });

  it('retries after a transient rejection and delivers on the second attempt', async () => {
    const server = await startServer({
      reject: (call) => (call === 1 ? { code: 451, message: 'try again later' } : undefined),
    });
    const { logger, lines, parsed } = capture();
    const { sleeps, sleep } = recordingSleep();
    const outbox = new NoticeOutbox(createSmtpMailer(plainConfig(server.port), logger), logger, {
      sleep,
    });
    const notice = render('factor_added', FULL_DETAILS);
    outbox.enqueue(TO, notice);
    await outbox.drain();

    expect(server.dataCalls).toBe(2);
    expect(server.received).toHaveLength(1);
    expect(parseRaw(server.received[0]!.raw).headers.get('subject')).toBe(notice.subject);
    expect(sleeps).toEqual([1_000]);
    expect(parsed()).toEqual([
      expect.objectContaining({ msg: 'notice e-mail send failed', code: 'EMESSAGE', status: 451 }),
      expect.objectContaining({ msg: 'notice e-mail will be retried', kind: 'factor_added' }),
    ]);
    expectSafeLogs(lines, [TO, 'try again later']);
  });

  it('does not retry a permanent (5xx) rejection', async () => {
    const server = await startServer({
      reject: () => ({ code: 550, message: `mailbox ${TO} unavailable` }),
    });
    const { logger, lines } = capture();
    const { sleeps, sleep } = recordingSleep();
    const outbox = new NoticeOutbox(createSmtpMailer(plainConfig(server.port), logger), logger, {
      sleep,
    });
    outbox.enqueue(TO, render('lockout'));
    await outbox.drain();
    expect(server.dataCalls).toBe(1);
    expect(sleeps).toEqual([]);
    expectSafeLogs(lines, [TO, 'unavailable']);
  });

  it('gives up after its attempts when the server is down, without throwing', async () => {
    const port = await closedPort();
    const { logger, lines, parsed } = capture();
    const { sleeps, sleep } = recordingSleep();
    const outbox = new NoticeOutbox(createSmtpMailer(plainConfig(port), logger), logger, { sleep });
    expect(outbox.enqueue(TO, render('password_changed'))).toBe(true);
    await outbox.drain();

    expect(sleeps).toEqual([1_000, 5_000]);
    const logs = parsed();
    expect(logs.filter((l) => l.msg === 'notice e-mail send failed')).toHaveLength(3);
    expect(logs.at(-1)).toEqual({
      time: expect.any(String),
      level: 'error',
      msg: 'notice e-mail abandoned',
      code: 'ECONNREFUSED',
      kind: 'password_changed',
    });
    expectSafeLogs(lines, [TO, '127.0.0.1', String(port)]);
  });

  it('refuses to send in clear text when STARTTLS is required but not offered', async () => {
    const server = await startServer();
    const { logger, lines } = capture();
    const mailer = createSmtpMailer(plainConfig(server.port, { requireTls: true }), logger);
    const error = await mailer.send({ to: TO, subject: 's', text: 't', html: 'h' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MailSendError);
    expect((error as MailSendError).message).not.toContain(TO);
    expect(server.received).toHaveLength(0);
    expectSafeLogs(lines, [TO]);
  });

  it('refuses a recipient that would add addresses, before connecting', async () => {
    const server = await startServer();
    const { logger } = capture();
    const mailer = createSmtpMailer(plainConfig(server.port), logger);
    await expect(
      mailer.send({ to: `${TO}, eve@example.net`, subject: 's', text: 't', html: 'h' }),
    ).rejects.toMatchObject({ transportCode: 'EADDRESS', permanent: true });
    expect(server.dataCalls).toBe(0);
  });
});
