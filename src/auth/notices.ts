// Security notices for dashboard accounts: wording (text + HTML), SMTP delivery and a non-blocking outbox.
import { setTimeout as delay } from 'node:timers/promises';
import type { Transporter } from 'nodemailer';
import { AppError, isAppError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';

/** What happened to the account (NIST SP 800-63B §4 "Revocation and notification"; ASVS 6.3.5/6.3.7). */
export type NoticeKind =
  | 'factor_added'
  | 'factor_removed'
  | 'lockout'
  | 'new_device'
  | 'lockdown'
  | 'recovery_code_used'
  | 'password_changed'
  | 'key_created'
  | 'sessions_revoked'
  | 'org_access_changed'
  | 'account_reset'
  | 'privacy_loosened'
  | 'access_alert';

/** What one organisation did to its own grant to a person (the notice `org_access_changed`). */
export type OrgAccessChange =
  'role_changed' | 'removed' | 'sessions_ended' | 'unlocked' | 'suspended' | 'confirmed';

/**
 * Facts about the event. All optional; every value is untrusted text (a factor label is typed by
 * whoever holds the session, a device string comes from a User-Agent) and is cleaned and escaped.
 */
export interface NoticeDetails {
  factorKind?: 'passkey' | 'totp' | 'recovery_codes';
  factorLabel?: string;
  /** e.g. 'Firefox 131 on macOS'. */
  device?: string;
  /** Coarse place, e.g. 'Lyon, FR' or 'unknown place'. */
  place?: string;
  /** Who did it, e.g. an owner's e-mail for a lock-down. */
  actor?: string;
  orgName?: string;
  keyName?: string;
  retryAfterMinutes?: number;
  /** What the audit log's detection saw (access_alert), e.g. 'enumeration: 1200 subjects…'. */
  alert?: string;
  /** Whether the principal was suspended (access_alert). */
  suspended?: boolean;
  /** `org_access_changed`: what the organisation `orgName` did. */
  change?: OrgAccessChange;
  /** `org_access_changed` with `role_changed`: the new role. */
  role?: string;
  /**
   * `account_reset`: the new setup link. E-mailed only, never stored with the notice (it is a
   * bearer secret): {@link Notifier} strips it before storing.
   */
  setupLink?: string;
  /** The project whose privacy policy changed. */
  projectName?: string;
  /** How the policy became looser (the privacy report's sentences, joined). */
  loosened?: string;
}

/** A notice ready to send: `subject` has no line breaks, `html` escapes every value. */
export interface RenderedNotice {
  kind: NoticeKind;
  subject: string;
  text: string;
  html: string;
}

/** Options of {@link renderNotice}. `dashboardUrl` must be an absolute http(s) URL. */
export interface RenderOptions {
  productName?: string;
  dashboardUrl: string;
}

/** Sends one message. Implementations throw on failure; see {@link MailSendError}. */
export interface Mailer {
  send(message: { to: string; subject: string; text: string; html: string }): Promise<void>;
}

/** Outgoing SMTP server. */
export interface SmtpConfig {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (smtps, usually port 465). */
  secure: boolean;
  /** Refuse to send unless the server upgrades with STARTTLS. */
  requireTls: boolean;
  user?: string;
  password?: string;
  /** From header, e.g. `Sillage <noreply@example.com>`. */
  from: string;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Rendering

const DEFAULT_PRODUCT_NAME = 'Sillage';
const MAX_VALUE_CHARS = 100;
const MAX_SUBJECT_VALUE_CHARS = 60;

/**
 * Makes an untrusted value safe to place in a line of text: control characters (CR, LF, tab, …)
 * and line/paragraph separators become spaces, format characters (bidi overrides that could
 * reorder the sentence, zero-width characters) are removed, runs of spaces collapse, and the
 * result is cut to `max` characters. Returns undefined when nothing is left.
 */
function cleanValue(value: string | undefined, max = MAX_VALUE_CHARS): string | undefined {
  if (typeof value !== 'string') return undefined;
  const cleaned = value
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\p{Cf}/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (cleaned === '') return undefined;
  const chars = Array.from(cleaned);
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : cleaned;
}

function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A link to the dashboard inside a line. */
interface Link {
  href: string;
}

/** Trusted wording (the template literals) with untrusted values between them. */
interface Line {
  literals: readonly string[];
  values: readonly (string | Link)[];
}

/** Tagged template: `line\`A passkey "${label}" was added\`` keeps the label apart from the wording. */
function line(literals: TemplateStringsArray, ...values: (string | Link)[]): Line {
  return { literals: [...literals], values };
}

function lineText(l: Line): string {
  let out = l.literals[0] ?? '';
  l.values.forEach((value, i) => {
    out += (typeof value === 'string' ? value : value.href) + (l.literals[i + 1] ?? '');
  });
  return out;
}

function lineHtml(l: Line): string {
  let out = escapeHtml(l.literals[0] ?? '');
  l.values.forEach((value, i) => {
    out +=
      typeof value === 'string'
        ? escapeHtml(value)
        : `<a href="${escapeHtml(value.href)}">${escapeHtml(value.href)}</a>`;
    out += escapeHtml(l.literals[i + 1] ?? '');
  });
  return out;
}

const FACTOR_NAMES: Record<NonNullable<NoticeDetails['factorKind']>, string> = {
  passkey: 'passkey',
  totp: 'authenticator app',
  recovery_codes: 'set of recovery codes',
};

/** The parts of a notice before layout. */
interface NoticeContent {
  subject: string;
  /** What happened, one or two sentences. */
  summary: Line[];
  /** What to do if it wasn't you (NIST §4: instructions for disputing the event). */
  ifNotYou: Line[];
}

function formatTime(at: Date): string {
  const time = at.getTime();
  // An invalid Date is a caller bug, but a notice must still go out.
  if (!Number.isFinite(time)) return 'an unknown time';
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function dashboardLink(dashboardUrl: string): Link {
  let url: URL;
  try {
    url = new URL(dashboardUrl);
  } catch {
    throw new AppError('CONFIG_INVALID', 'the dashboard URL of security notices is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('CONFIG_INVALID', 'the dashboard URL of security notices must be http(s)');
  }
  return { href: url.href };
}

function content(kind: NoticeKind, d: NoticeDetails, product: string, dash: Link): NoticeContent {
  const factorKind = d.factorKind;
  const factor = factorKind ? FACTOR_NAMES[factorKind] : 'sign-in factor';
  const label = cleanValue(d.factorLabel);
  const labelled = label ? line` "${label}"` : line``;
  const actor = cleanValue(d.actor);
  const org = cleanValue(d.orgName);
  const orgShort = cleanValue(d.orgName, MAX_SUBJECT_VALUE_CHARS);
  const keyName = cleanValue(d.keyName);
  const device = cleanValue(d.device);
  const deviceShort = cleanValue(d.device, MAX_SUBJECT_VALUE_CHARS);

  const signIn = line`Sign in at ${dash}. If you can't sign in, ask an owner of your organisation for help right away.`;
  const secure = line`In your security settings, sign out all other sessions, change your password, and remove any passkey, authenticator app or API key you don't recognise.`;
  const escalate = line`If you think someone else has access, tell an owner of your organisation now; an owner can lock the organisation down, which signs everyone out and revokes all secret API keys.`;
  const byActor = actor ? line` by ${actor}` : line``;

  switch (kind) {
    case 'factor_added': {
      const what =
        factorKind === 'recovery_codes'
          ? line`A new set of recovery codes was generated for your ${product} account.`
          : line`A new ${factor}${lineText(labelled)} was added to your ${product} account.`;
      return {
        subject:
          factorKind === 'recovery_codes'
            ? `New recovery codes were generated for your ${product} account`
            : `A new ${factor} was added to your ${product} account`,
        summary: [what],
        ifNotYou: [
          signIn,
          factorKind === 'recovery_codes'
            ? line`Generate new recovery codes again, so that the ones someone else saw stop working.`
            : line`Remove the ${factor}${lineText(labelled)} in your security settings.`,
          secure,
          escalate,
        ],
      };
    }
    case 'factor_removed':
      return {
        subject: `A ${factor} was removed from your ${product} account`,
        summary: [line`A ${factor}${lineText(labelled)} was removed from your ${product} account.`],
        ifNotYou: [signIn, secure, escalate],
      };
    case 'lockout': {
      const minutes =
        typeof d.retryAfterMinutes === 'number' &&
        Number.isFinite(d.retryAfterMinutes) &&
        d.retryAfterMinutes > 0
          ? String(Math.ceil(d.retryAfterMinutes))
          : undefined;
      return {
        subject: `Sign-in to your ${product} account is paused after failed attempts`,
        summary: [
          minutes
            ? line`After too many failed sign-in attempts, sign-in to your ${product} account is paused for ${minutes} minutes.`
            : line`After too many failed sign-in attempts, sign-in to your ${product} account is paused for a while.`,
        ],
        ifNotYou: [
          line`Someone may be trying to guess your password. The pause protects you; you don't need to do anything to keep it in place.`,
          line`When it ends, sign in at ${dash} and change your password, especially if you use it anywhere else.`,
          secure,
          escalate,
        ],
      };
    }
    case 'new_device':
      return {
        subject: deviceShort
          ? `New sign-in to your ${product} account from ${deviceShort}`
          : `New sign-in to your ${product} account from a new device`,
        summary: [
          device
            ? line`Your ${product} account was signed in to from a device it has not used before: ${device}.`
            : line`Your ${product} account was signed in to from a device it has not used before.`,
        ],
        ifNotYou: [signIn, secure, escalate],
      };
    case 'access_alert': {
      const alert = cleanValue(d.alert);
      return {
        subject: orgShort
          ? `Unusual data access in "${orgShort}" on ${product}`
          : `Unusual data access on ${product}`,
        summary: [
          line`Sillage noticed unusual access to data${actor ? lineText(line` by ${actor}`) : ''}${org ? lineText(line` in the organisation "${org}"`) : ''}: ${alert ?? 'see the audit log'}.`,
          d.suspended
            ? line`The account or key was suspended: it can read nothing until an owner lifts the suspension.`
            : line`Nothing was suspended; check whether this access was expected.`,
        ],
        ifNotYou: [
          line`Sign in at ${dash} and look at the audit log and the breach-impact report for this principal.`,
          line`If the access was not expected, keep the suspension and revoke the principal's keys.`,
          secure,
          escalate,
        ],
      };
    }
    case 'lockdown':
      return {
        subject: orgShort
          ? `Organisation "${orgShort}" was locked down on ${product}`
          : `Your organisation was locked down on ${product}`,
        summary: [
          org
            ? line`The organisation "${org}" was locked down${lineText(byActor)}: every session was signed out and every secret API key was revoked.`
            : line`Your organisation was locked down${lineText(byActor)}: every session was signed out and every secret API key was revoked.`,
          line`Everyone must sign in again, and the API keys that integrations use must be created again.`,
        ],
        ifNotYou: [
          line`If you did not expect this, contact another owner of your organisation before anything else: an owner account may be in someone else's hands.`,
          line`Then sign in at ${dash}, change your password, and remove any passkey, authenticator app or API key you don't recognise.`,
        ],
      };
    case 'recovery_code_used':
      return {
        subject: `A recovery code was used to sign in to your ${product} account`,
        summary: [
          line`One of your recovery codes was used to sign in to your ${product} account. That code no longer works.`,
        ],
        ifNotYou: [
          signIn,
          line`Someone has your recovery codes: generate a new set right away, which makes all the old codes stop working.`,
          secure,
          escalate,
        ],
      };
    case 'password_changed':
      return {
        subject: `The password of your ${product} account was changed`,
        summary: [line`The password of your ${product} account was changed.`],
        ifNotYou: [
          line`Sign in at ${dash} with your passkey or authenticator app and set a new password. If you can't sign in, ask an owner of your organisation for help right away.`,
          secure,
          escalate,
        ],
      };
    case 'key_created':
      return {
        subject: orgShort
          ? `A secret API key was created in "${orgShort}" on ${product}`
          : `A secret API key was created on ${product}`,
        summary: [
          line`A secret API key${keyName ? lineText(line` "${keyName}"`) : ''} was created${org ? lineText(line` in the organisation "${org}"`) : ''}${lineText(byActor)}.`,
        ],
        ifNotYou: [
          signIn,
          line`Revoke the key${keyName ? lineText(line` "${keyName}"`) : ''} in the API key settings.`,
          secure,
          escalate,
        ],
      };
    case 'org_access_changed': {
      const inOrg = org ? line`the organisation "${org}"` : line`an organisation`;
      const where = lineText(inOrg);
      const role = cleanValue(d.role, 20);
      const what: Record<OrgAccessChange, Line> = {
        role_changed: role
          ? line`Your role in ${where} was changed to ${role}${lineText(byActor)}.`
          : line`Your role in ${where} was changed${lineText(byActor)}.`,
        removed: line`You were removed from ${where}${lineText(byActor)}.`,
        sessions_ended: line`Your sessions were signed out of ${where}${lineText(byActor)}: sign in again to use it.`,
        unlocked: line`The failed sign-in count of your ${product} account was cleared by ${where}${lineText(byActor)}.`,
        suspended: line`Your access to ${where} is on hold until the server operator confirms you${lineText(byActor)}.`,
        confirmed: line`Your access to ${where} was confirmed by the server operator.`,
      };
      return {
        subject: orgShort
          ? `Your access to "${orgShort}" on ${product} changed`
          : `Your access to an organisation on ${product} changed`,
        summary: [
          what[d.change ?? 'sessions_ended'],
          line`Only that organisation is affected: your account, its sign-in factors and your other organisations are unchanged.`,
        ],
        ifNotYou: [signIn, secure, escalate],
      };
    }
    case 'account_reset': {
      const link = d.setupLink ? cleanValue(d.setupLink, 400) : undefined;
      return {
        subject: `Your ${product} account was reset: set it up again`,
        summary: [
          org
            ? line`Every sign-in factor of your ${product} account was removed by the organisation "${org}"${lineText(byActor)}, and every session was signed out.`
            : line`Every sign-in factor of your ${product} account was removed${lineText(byActor)}, and every session was signed out.`,
          link
            ? line`Choose a new password and a new passkey or authenticator app with this single-use link: ${{ href: link }}`
            : line`You will receive a single-use link to choose a new password and a new passkey or authenticator app.`,
        ],
        ifNotYou: [
          line`If you did not ask for this, do not open the link: tell an owner of your organisation and the server operator now.`,
          signIn,
          secure,
          escalate,
        ],
      };
    }
    case 'privacy_loosened': {
      const project = cleanValue(d.projectName);
      const change = cleanValue(d.loosened, 300);
      return {
        subject: `A privacy policy was loosened on ${product}`,
        summary: [
          line`The privacy policy of the project${project ? lineText(line` "${project}"`) : ''} was loosened${lineText(byActor)}: ${change || 'see the privacy report'}.`,
        ],
        ifNotYou: [
          signIn,
          line`Check the project's privacy report and policy history, and set the policy back if nobody in your organisation meant this change.`,
          secure,
          escalate,
        ],
      };
    }
    case 'sessions_revoked':
      return {
        subject: `All sessions of your ${product} account were signed out`,
        summary: [
          line`All sessions of your ${product} account were signed out${lineText(byActor)}. You need to sign in again on every device.`,
        ],
        ifNotYou: [signIn, secure, escalate],
      };
  }
}

/**
 * Writes a security notice: what happened, when (UTC, ISO 8601), from which device and place when
 * known, and what to do if it wasn't you, with the dashboard URL (NIST SP 800-63B §4 asks every
 * notice to say how to dispute the event). Untrusted values are cleaned of line breaks and control
 * characters, shortened, quoted in the text and escaped in the HTML; the subject never contains a
 * CR or LF. Throws `AppError('CONFIG_INVALID')` when `dashboardUrl` is not an http(s) URL.
 */
export function renderNotice(
  kind: NoticeKind,
  details: NoticeDetails,
  at: Date,
  options: RenderOptions,
): RenderedNotice {
  const product = cleanValue(options.productName, 40) ?? DEFAULT_PRODUCT_NAME;
  const dash = dashboardLink(options.dashboardUrl);
  const c = content(kind, details, product, dash);

  const facts: Line[] = [line`When: ${formatTime(at)} (UTC)`];
  const device = cleanValue(details.device);
  const place = cleanValue(details.place);
  if (device && kind !== 'lockdown') facts.push(line`Device: ${device}`);
  if (place && kind !== 'lockdown') facts.push(line`Place (approximate): ${place}`);
  const footer = line`This is an automatic security notice from ${product}. You can also find it among the security notices in your dashboard.`;

  const text = [
    c.summary.map(lineText).join(' '),
    facts.map(lineText).join('\n'),
    ["If this wasn't you:", ...c.ifNotYou.map((l) => `- ${lineText(l)}`)].join('\n'),
    lineText(footer),
  ].join('\n\n');

  const html = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"></head><body>',
    `<p>${c.summary.map(lineHtml).join(' ')}</p>`,
    `<p>${facts.map(lineHtml).join('<br>')}</p>`,
    `<p><strong>If this wasn&#39;t you:</strong></p>`,
    `<ul>${c.ifNotYou.map((l) => `<li>${lineHtml(l)}</li>`).join('')}</ul>`,
    `<p style="color:#666">${lineHtml(footer)}</p>`,
    '</body></html>',
  ].join('\n');

  // Values are already free of line breaks; this last pass guards the header against the wording.
  const subject = `[${product}] ${c.subject}`.replace(/[\r\n]+/g, ' ');
  return { kind, subject, text, html };
}

// ---------------------------------------------------------------------------------------------
// SMTP delivery

const SAFE_CODE = /^[A-Z][A-Z0-9_]{1,31}$/;
const PERMANENT_CODES = new Set(['EENVELOPE', 'EMESSAGE', 'ECONFIG', 'EADDRESS', 'ENOAUTH']);

/**
 * A message could not be sent. Carries only the transport's error code (`ECONNREFUSED`, `EAUTH`,
 * …) and SMTP reply code. The driver error is deliberately not kept as `cause`: its message
 * quotes the server's reply, which often contains the recipient's address.
 */
export class MailSendError extends AppError {
  /** Transport error code, or `UNKNOWN`. Safe to log. */
  readonly transportCode: string;
  /** SMTP reply code when the server answered with an error. */
  readonly responseCode: number | undefined;
  /** Retrying the same message cannot succeed (a 5xx reply, a bad address). */
  readonly permanent: boolean;

  constructor(transportCode: string, responseCode: number | undefined, permanent: boolean) {
    super(
      'INTERNAL',
      `sending a notice e-mail failed (${transportCode}${responseCode ? ` ${responseCode}` : ''})`,
    );
    this.name = 'MailSendError';
    this.transportCode = transportCode;
    this.responseCode = responseCode;
    this.permanent = permanent;
  }
}

/** Turns a nodemailer error into a MailSendError without copying any of its text. */
function toMailSendError(error: unknown): MailSendError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    originalCode?: unknown;
    responseCode?: unknown;
    permanent?: unknown;
  };
  // ESOCKET says little; the system code it replaced (ECONNREFUSED, ECONNRESET) says what happened.
  const raw = typeof e.originalCode === 'string' ? e.originalCode : e.code;
  const code = typeof raw === 'string' && SAFE_CODE.test(raw) ? raw : 'UNKNOWN';
  const responseCode =
    typeof e.responseCode === 'number' && Number.isInteger(e.responseCode)
      ? e.responseCode
      : undefined;
  const permanent =
    typeof e.permanent === 'boolean'
      ? e.permanent
      : typeof e.code === 'string' && PERMANENT_CODES.has(e.code);
  return new MailSendError(code, responseCode, permanent);
}

// One plain address: no display name, no list, no whitespace or control characters, so that a
// value can neither add recipients nor headers.
const PLAIN_ADDRESS =
  /^[^\s\p{Cc}@<>(),;:"\\[\]]+@[^\s\p{Cc}@<>(),;:"\\[\]]+\.[^\s\p{Cc}@<>(),;:"\\[\]]+$/u;

/** True when `to` is a single bare address (`name@example.com`) that a notice may be sent to. */
export function isNoticeAddress(to: string): boolean {
  return typeof to === 'string' && to.length <= 254 && PLAIN_ADDRESS.test(to);
}

/**
 * A Mailer over SMTP (nodemailer, one connection per message: notices are rare). Connection
 * timeout 10 s, socket inactivity 20 s; certificates are verified unless `rejectUnauthorized` is
 * false. Failures throw {@link MailSendError} and log one warning carrying only the error code and
 * SMTP reply code; nodemailer's own logger is off because it prints addresses.
 */
export function createSmtpMailer(config: SmtpConfig, logger: Logger): Mailer {
  // Loaded at the first notice sent: most starts of the server or of a CLI command send none,
  // and loading nodemailer cost each of them ~0.1 s of CPU.
  let transport: Promise<Transporter> | null = null;
  const transportOf = (): Promise<Transporter> =>
    (transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        host: config.host,
        port: config.port,
        secure: config.secure,
        requireTLS: config.requireTls,
        auth:
          config.user !== undefined
            ? { user: config.user, pass: config.password ?? '' }
            : undefined,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
        dnsTimeout: 10_000,
        tls: {
          rejectUnauthorized: config.rejectUnauthorized ?? true,
          minVersion: 'TLSv1.2',
        },
        logger: false,
        debug: false,
        // Notices have no attachments; make sure no content can make nodemailer read files or URLs.
        disableFileAccess: true,
        disableUrlAccess: true,
      }),
    ));

  return {
    async send(message) {
      if (!isNoticeAddress(message.to)) {
        logger.warn('notice e-mail not sent', { code: 'EADDRESS' });
        throw new MailSendError('EADDRESS', undefined, true);
      }
      const smtp = await transportOf();
      try {
        await smtp.sendMail({
          from: config.from,
          to: message.to,
          subject: message.subject.replace(/[\r\n]+/g, ' '),
          text: message.text,
          html: message.html,
          // RFC 3834: an automatic message; auto-responders should not answer it.
          headers: { 'Auto-Submitted': 'auto-generated' },
        });
      } catch (error) {
        const failure = toMailSendError(error);
        logger.warn('notice e-mail send failed', {
          code: failure.transportCode,
          ...(failure.responseCode !== undefined ? { status: failure.responseCode } : {}),
        });
        throw failure;
      }
    },
  };
}

const SMTP_URL_HELP =
  'expected smtp://user:password@host:587 or smtps://user:password@host:465 (percent-encode special characters)';

function configError(message: string): AppError {
  return new AppError('CONFIG_INVALID', message);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Says what is wrong with a URL that `new URL` rejected, without quoting any of it. */
function unparsableUrlProblem(value: string): string {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value)?.[1];
  if (authority === undefined) return `is not a valid URL: ${SMTP_URL_HELP}`;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const [, host = hostPort, port] = /^(\[[^\]]*\]|[^:]*):(.*)$/.exec(hostPort) ?? [];
  if (host === '') return `has no host: ${SMTP_URL_HELP}`;
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65535)) {
    return 'has an invalid port (1-65535)';
  }
  return `is not a valid URL: ${SMTP_URL_HELP}`;
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw configError('SILLAGE_SMTP_URL has a malformed percent-encoding in its user or password');
  }
}

/**
 * Reads `SILLAGE_SMTP_URL` and `SILLAGE_SMTP_FROM`. Returns null when `SILLAGE_SMTP_URL` is unset
 * or empty (notices then stay in the app). `smtp://` uses STARTTLS, required unless
 * `?starttls=optional`; `smtps://` is implicit TLS. Default ports 587 and 465.
 * `?tls_reject_unauthorized=0` accepts any certificate. A password is refused over a connection
 * that may stay unencrypted (`starttls=optional`) unless the host is a loopback address.
 *
 * Throws `AppError('CONFIG_INVALID')` naming the variable and the problem; messages never
 * include the URL itself, which holds the password.
 */
export function smtpConfigFromEnv(env: NodeJS.ProcessEnv): SmtpConfig | null {
  const raw = env.SILLAGE_SMTP_URL?.trim();
  if (!raw) return null;

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // No cause: a URL TypeError carries the input, password included.
    throw configError(`SILLAGE_SMTP_URL ${unparsableUrlProblem(raw)}`);
  }

  const scheme = url.protocol;
  if (scheme !== 'smtp:' && scheme !== 'smtps:') {
    throw configError(`SILLAGE_SMTP_URL must start with smtp:// or smtps://: ${SMTP_URL_HELP}`);
  }
  const secure = scheme === 'smtps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw configError(`SILLAGE_SMTP_URL has no host: ${SMTP_URL_HELP}`);
  const port = url.port === '' ? (secure ? 465 : 587) : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw configError('SILLAGE_SMTP_URL has an invalid port (1-65535)');
  }
  if (url.pathname !== '' && url.pathname !== '/') {
    throw configError('SILLAGE_SMTP_URL must not have a path');
  }
  if (url.hash !== '') throw configError('SILLAGE_SMTP_URL must not have a #fragment');

  const user = url.username === '' ? undefined : decodePart(url.username);
  const password = url.password === '' ? undefined : decodePart(url.password);
  if (user === undefined && password !== undefined) {
    throw configError('SILLAGE_SMTP_URL has a password but no user');
  }
  if (user !== undefined && password === undefined) {
    throw configError('SILLAGE_SMTP_URL has a user but no password');
  }

  let requireTls = !secure;
  let rejectUnauthorized = true;
  const seen = new Set<string>();
  for (const [name, value] of url.searchParams) {
    const shownName = /^[a-z_]{1,40}$/i.test(name) ? `"${name}"` : 'an unknown parameter';
    if (seen.has(name)) throw configError(`SILLAGE_SMTP_URL repeats ${shownName}`);
    seen.add(name);
    if (name === 'starttls') {
      if (secure) {
        throw configError('SILLAGE_SMTP_URL: starttls applies to smtp:// only (smtps:// is TLS)');
      }
      if (value === 'required') requireTls = true;
      else if (value === 'optional') requireTls = false;
      else throw configError('SILLAGE_SMTP_URL: starttls must be "required" or "optional"');
    } else if (name === 'tls_reject_unauthorized') {
      if (value === '0') rejectUnauthorized = false;
      else if (value === '1') rejectUnauthorized = true;
      else throw configError('SILLAGE_SMTP_URL: tls_reject_unauthorized must be 0 or 1');
    } else {
      throw configError(
        `SILLAGE_SMTP_URL has ${shownName}; known parameters: starttls, tls_reject_unauthorized`,
      );
    }
  }
  if (password !== undefined && !secure && !requireTls && !isLoopback(host)) {
    throw configError(
      'SILLAGE_SMTP_URL would send its password unencrypted: use starttls=required or smtps://',
    );
  }

  const from = env.SILLAGE_SMTP_FROM?.trim();
  if (!from) throw configError('SILLAGE_SMTP_FROM is required when SILLAGE_SMTP_URL is set');
  if (/[\p{Cc}]/u.test(from) || from.length > 320) {
    throw configError('SILLAGE_SMTP_FROM must be one line, e.g. "Sillage <noreply@example.com>"');
  }
  if (!/@[^\s@<>]+\.[^\s@<>]+>?$/.test(from)) {
    throw configError(
      'SILLAGE_SMTP_FROM must be an address, e.g. noreply@example.com or "Sillage <noreply@example.com>"',
    );
  }

  return {
    host,
    port,
    secure,
    requireTls,
    ...(user !== undefined ? { user, password } : {}),
    from,
    rejectUnauthorized,
  };
}

// ---------------------------------------------------------------------------------------------
// Outbox

/** Options of {@link NoticeOutbox}. */
export interface NoticeOutboxOptions {
  /** Most notices waiting; when full the oldest is dropped (default 1000). */
  maxQueued?: number;
  /** Sends tried per notice before giving up (default 3). */
  maxAttempts?: number;
  /** Wait before attempt n+1 is `retryDelaysMs[n-1]`, the last one repeating (default 1 s, 5 s, 25 s). */
  retryDelaysMs?: readonly number[];
  /** How to wait; rejects when `signal` aborts. Injectable so tests need not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface OutboxItem {
  to: string;
  notice: RenderedNotice;
}

const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 25_000] as const;

function failureCode(error: unknown): string {
  if (error instanceof MailSendError) return error.transportCode;
  if (isAppError(error)) return error.code;
  return 'UNKNOWN';
}

/**
 * Delivers notices by e-mail in the background so that the action that caused one never waits
 * for SMTP nor fails because of it. `enqueue` returns at once; a single worker sends one message
 * at a time, retrying transient failures (`maxAttempts`, backoff `retryDelaysMs`) and giving up at
 * once on permanent ones (5xx replies, bad addresses). Each address gets its own message. The
 * queue lives in memory: notices still queued when the process stops are lost, which is why the
 * in-app list, not e-mail, is the record.
 */
export class NoticeOutbox {
  readonly #mailer: Mailer;
  readonly #logger: Logger;
  readonly #maxQueued: number;
  readonly #maxAttempts: number;
  readonly #retryDelaysMs: readonly number[];
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #queue: OutboxItem[] = [];
  readonly #stop = new AbortController();
  #running = false;
  #closed = false;
  #dropped = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(mailer: Mailer, logger: Logger, options: NoticeOutboxOptions = {}) {
    this.#mailer = mailer;
    this.#logger = logger;
    this.#maxQueued = Math.max(1, options.maxQueued ?? 1000);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.#retryDelaysMs =
      options.retryDelaysMs && options.retryDelaysMs.length > 0
        ? options.retryDelaysMs
        : DEFAULT_RETRY_DELAYS_MS;
    this.#sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  }

  /** Notices waiting (not counting the one being sent). */
  get size(): number {
    return this.#queue.length;
  }

  /** Notices dropped so far because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues a notice for `to` and returns at once; never throws. Returns false when it is not
   * queued: the address is not a single bare address, or the outbox is closed.
   */
  enqueue(to: string, notice: RenderedNotice): boolean {
    if (this.#closed) {
      this.#logger.warn('notice e-mail not queued: outbox closed', { kind: notice.kind });
      return false;
    }
    if (!isNoticeAddress(to)) {
      this.#logger.warn('notice e-mail not queued', { code: 'EADDRESS', kind: notice.kind });
      return false;
    }
    if (this.#queue.length >= this.#maxQueued) {
      const oldest = this.#queue.shift();
      this.#dropped += 1;
      this.#logger.warn('notice outbox full: dropped the oldest notice', {
        kind: oldest?.notice.kind,
        queued: this.#queue.length,
        rejected: this.#dropped,
      });
    }
    this.#queue.push({ to, notice });
    if (!this.#running) void this.#run();
    return true;
  }

  /** Resolves once nothing is queued or being sent (or the outbox was closed). */
  drain(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops accepting notices and waits up to `timeoutMs` for the queue to empty. Whatever is
   * still queued then is dropped and counted in one log line; a retry wait is cut short. A
   * send already on the wire finishes or times out on its own (socket timeout).
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, timeoutMs));
    });
    const late = await Promise.race([this.drain().then(() => false), timedOut]);
    clearTimeout(timer);
    if (!late) return;
    const left = this.#queue.length + (this.#running ? 1 : 0);
    this.#queue.length = 0;
    this.#stop.abort();
    this.#logger.warn('notice outbox closed before delivering everything', { rejected: left });
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
        await this.#deliver(item);
        if (this.#stop.signal.aborted) break;
      }
    } catch {
      // #deliver does not throw; this only guards the worker against a bug leaving it stuck.
      this.#logger.error('notice outbox worker failed', { code: 'INTERNAL' });
    } finally {
      this.#running = false;
      if (this.#queue.length === 0 || this.#stop.signal.aborted) this.#wakeWaiters();
      else void this.#run();
    }
  }

  async #deliver({ to, notice }: OutboxItem): Promise<void> {
    const message = { to, subject: notice.subject, text: notice.text, html: notice.html };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#mailer.send(message);
        return;
      } catch (error) {
        const code = failureCode(error);
        const permanent = error instanceof MailSendError && error.permanent;
        if (permanent || attempt >= this.#maxAttempts || this.#stop.signal.aborted) {
          this.#logger.error('notice e-mail abandoned', { code, kind: notice.kind });
          return;
        }
        this.#logger.info('notice e-mail will be retried', { code, kind: notice.kind });
        const wait =
          this.#retryDelaysMs[Math.min(attempt - 1, this.#retryDelaysMs.length - 1)] ?? 0;
        try {
          await this.#sleep(wait, this.#stop.signal);
        } catch {
          this.#logger.warn('notice e-mail abandoned at shutdown', { kind: notice.kind });
          return;
        }
      }
    }
  }
}
