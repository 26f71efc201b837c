// Password policy (NIST 800-63B §3.1.1.2, ASVS V6.2) and peppered Argon2id hashing.
import {
  hashSync as argon2HashSync,
  hash as argon2Hash,
  parseOptions,
  verify as argon2Verify,
} from '@node-rs/argon2';
import type {
  Algorithm,
  Options as Argon2Options,
  ParsedHashOptions,
  Version,
} from '@node-rs/argon2';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import type { ZxcvbnResult } from '@zxcvbn-ts/core';
import type * as ZxcvbnCommon from '@zxcvbn-ts/language-common';
import type * as ZxcvbnEn from '@zxcvbn-ts/language-en';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { deriveMasterSubkey } from '../privacy/master-key.js';
import { AppError } from '../shared/errors.js';

/** Fewest characters (Unicode code points after NFKC) a password may have. */
export const PASSWORD_MIN_LENGTH = 12;
/** Most characters (code points after NFKC) a password may have; NIST asks that ≥ 64 be allowed. */
export const PASSWORD_MAX_LENGTH = 256;
/** Lowest zxcvbn score accepted (3: "safely unguessable", ≥ 10^8 guesses). */
const MIN_ZXCVBN_SCORE = 3;
/** Characters zxcvbn analyses (see `strengthEstimator`). */
const ZXCVBN_MAX_LENGTH = 64;
const ZXCVBN_MAX_L33T_SUBSTITUTIONS = 5;
/** The product name, always a context word (NIST's "name of the service"). */
const PRODUCT_NAME = 'sillage';
/**
 * Famous example passphrases that every cracking word list carries but the zxcvbn list (built from
 * leaks of mostly short passwords) does not; compared like the list, as whole passwords.
 */
const EXTRA_COMMON_PASSWORDS = [
  'correcthorsebatterystaple',
  'correcthorsebatterystaple1',
  'thequickbrownfoxjumpsoverthelazydog',
  'loremipsumdolorsitamet',
];

/** What the caller knows about the account, for the context-specific blocklist (ASVS 6.2.11). */
export interface PasswordContext {
  email?: string;
  orgName?: string;
}

/** Why a password was refused; `message` is plain words for the user and never echoes it. */
export type PasswordPolicyResult =
  | { ok: true }
  | {
      ok: false;
      reason: 'too_short' | 'too_long' | 'common' | 'context' | 'weak';
      message: string;
    };

/**
 * Checks a new password against the policy: 12 to 256 code points after NFKC, not in the bundled
 * list of common and breached passwords (compared whole and case-insensitively, also with spaces,
 * dots, dashes and underscores removed), not the product name, the e-mail address or its parts,
 * or the organisation name, and a zxcvbn score of at least 3 with those words as user inputs.
 * There are deliberately no composition rules (NIST 800-63B §3.1.1.2, ASVS 6.2.5). Run it when a
 * password is set or changed, never at sign-in.
 */
export function checkPasswordPolicy(
  password: string,
  context: PasswordContext,
): PasswordPolicyResult {
  const normalized = password.normalize('NFKC');
  const length = codePointLength(normalized, PASSWORD_MAX_LENGTH + 1);
  if (length < PASSWORD_MIN_LENGTH) {
    return refuse('too_short', `Use at least ${PASSWORD_MIN_LENGTH} characters.`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return refuse('too_long', `Use at most ${PASSWORD_MAX_LENGTH} characters.`);
  }
  const lower = normalized.toLowerCase();
  const common = commonPasswords();
  if (common.has(lower) || common.has(withoutSeparators(lower))) {
    return refuse(
      'common',
      'This password appears in lists of common or leaked passwords, so attackers try it ' +
        'early. Choose another one.',
    );
  }
  const words = contextWords(context);
  const squashed = squash(lower);
  if ([...words].some((word) => squash(word) === squashed)) {
    return refuse('context', CONTEXT_MESSAGE);
  }
  const result = strengthEstimator().check(normalized, [...words]);
  if (result.score >= MIN_ZXCVBN_SCORE) return { ok: true };
  if (usesContextWord(result)) return refuse('context', CONTEXT_MESSAGE);
  const hints = [result.feedback.warning, result.feedback.suggestions[0]].filter(
    (hint): hint is string => typeof hint === 'string' && hint !== '',
  );
  return refuse('weak', ['This password is too easy to guess.', ...hints].join(' '));
}

const CONTEXT_MESSAGE =
  'This password is too easy to guess from your e-mail address, your organisation or the ' +
  'product name. Choose one that has nothing to do with them.';

/** Argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB (`m=`). */
  memoryCost: number;
  /** Passes over memory (`t=`). */
  timeCost: number;
  /** Lanes (`p=`). */
  parallelism: number;
}

/** The floor and the default: OWASP/ASVS Argon2id m=19 MiB, t=2, p=1. */
export const ARGON2_MIN_PARAMS: Readonly<Argon2Params> = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

const PEPPER_BYTES = 32;
const OUTPUT_BYTES = 32;
const SALT_BYTES = 16;
// The d.ts declares these as const enums, which verbatimModuleSyntax cannot read at run time.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;

/** Whether a password matched, and whether its stored hash should be replaced by a fresh one. */
export interface PasswordVerifyResult {
  ok: boolean;
  /** True only when `ok` and the stored hash is weaker than the current parameters. */
  needsRehash: boolean;
}

/**
 * Hashes and verifies passwords with Argon2id (random 16-byte salt, 32-byte output, PHC string
 * with its parameters) and a 32-byte pepper passed as Argon2's secret input: the keyed pass NIST
 * 800-63B §3.1.1.2 recommends, with the key kept outside the database (derive it from the master
 * key with `passwordPepper`). Passwords are NFKC-normalised and never truncated. Changing the
 * pepper makes every stored hash unverifiable, so it cannot be rotated without a reset.
 */
/** Argon2 computations at once (each holds a libuv pool thread and 19 MiB). */
export const MAX_CONCURRENT_HASHES = 1;
/** Sign-ins allowed to wait for one; more are refused (AUTH_THROTTLED) rather than queued. */
export const MAX_WAITING_HASHES = 64;

export class PasswordHasher {
  readonly #pepper: Buffer;
  readonly #params: Argon2Params;
  readonly #dummyHash: string;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /**
   * @param pepper 32 secret bytes, from `passwordPepper(masterKey)`.
   * @param params cost overrides; each must be at least `ARGON2_MIN_PARAMS` (raise them, never
   *   lower them). Throws AppError `CONFIG_INVALID` otherwise.
   */
  constructor(pepper: Buffer, params: Partial<Argon2Params> = {}) {
    if (pepper.length !== PEPPER_BYTES) {
      throw new AppError('CONFIG_INVALID', `The password pepper must be ${PEPPER_BYTES} bytes.`);
    }
    const merged: Argon2Params = { ...ARGON2_MIN_PARAMS, ...params };
    for (const name of ['memoryCost', 'timeCost', 'parallelism'] as const) {
      const value = merged[name];
      if (!Number.isSafeInteger(value) || value < ARGON2_MIN_PARAMS[name]) {
        throw new AppError(
          'CONFIG_INVALID',
          `Argon2 ${name} must be an integer of at least ${ARGON2_MIN_PARAMS[name]}.`,
        );
      }
    }
    this.#pepper = Buffer.from(pepper);
    this.#params = merged;
    // Computed once, synchronously, so that the first `verifyDummy` costs what every later one does.
    this.#dummyHash = argon2HashSync(randomBytes(32).toString('base64url'), this.#options());
  }

  /** The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) to store for `password`. */
  async hash(password: string): Promise<string> {
    const normalized = password.normalize('NFKC');
    if (codePointLength(normalized, PASSWORD_MAX_LENGTH + 1) > PASSWORD_MAX_LENGTH) {
      throw new AppError(
        'AUTH_PASSWORD_REJECTED',
        `Use at most ${PASSWORD_MAX_LENGTH} characters.`,
      );
    }
    return this.#limited(() => argon2Hash(normalized, this.#options()));
  }

  /**
   * Checks `password` against a stored PHC string. A stored value that is not an Argon2 PHC
   * string (for example a marker for "no password set") never matches, after the same work as a
   * real check. `needsRehash` asks the caller to store `hash(password)` now that it is known.
   */
  async verify(stored: string, password: string): Promise<PasswordVerifyResult> {
    const normalized = password.normalize('NFKC');
    const parsed = parseStored(stored);
    if (
      parsed === undefined ||
      codePointLength(normalized, PASSWORD_MAX_LENGTH + 1) > PASSWORD_MAX_LENGTH
    ) {
      await this.#burn(normalized);
      return { ok: false, needsRehash: false };
    }
    let ok: boolean;
    try {
      ok = await this.#limited(() => argon2Verify(stored, normalized, { secret: this.#pepper }));
    } catch (error) {
      if (error instanceof AppError) throw error;
      ok = false;
    }
    return { ok, needsRehash: ok && this.#weakerThanCurrent(parsed) };
  }

  /**
   * Spends the time of one real `verify` against a fixed hash made with the current parameters
   * and pepper. Call it when the account does not exist (or has no password), so that timing does
   * not tell unknown accounts apart (ASVS 6.3.8).
   */
  async verifyDummy(password: string): Promise<void> {
    await this.#burn(password.normalize('NFKC'));
  }

  async #burn(normalized: string): Promise<void> {
    try {
      await this.#limited(() =>
        argon2Verify(this.#dummyHash, normalized, { secret: this.#pepper }),
      );
    } catch (error) {
      if (error instanceof AppError) throw error;
      // The answer is irrelevant: only the time spent matters.
    }
  }

  /**
   * Runs one Argon2 computation at a time. They run on libuv's small thread pool, which also
   * does the ingest log's fdatasync (acknowledgements wait for it) and DuckDB's statements: a
   * flood of sign-ins must queue here, not starve ingestion. Past MAX_WAITING_HASHES waiting, the
   * sign-in is refused with AUTH_THROTTLED and Retry-After instead of queueing without bound.
   */
  async #limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= MAX_CONCURRENT_HASHES) {
      if (this.#waiting.length >= MAX_WAITING_HASHES) {
        throw new AppError('AUTH_THROTTLED', 'too many sign-ins at once; try again shortly', {
          retryAfterSeconds: 1,
        });
      }
      // The slot is handed over by the task that finishes (see finally).
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }

  #options(): Argon2Options {
    return {
      algorithm: ARGON2ID,
      version: VERSION_0X13,
      outputLen: OUTPUT_BYTES,
      secret: this.#pepper,
      ...this.#params,
    };
  }

  #weakerThanCurrent(parsed: ParsedHashOptions): boolean {
    return (
      parsed.algorithm !== ARGON2ID ||
      parsed.version !== VERSION_0X13 ||
      parsed.memoryCost < this.#params.memoryCost ||
      parsed.timeCost < this.#params.timeCost ||
      parsed.parallelism < this.#params.parallelism ||
      parsed.outputLen < OUTPUT_BYTES ||
      parsed.saltLen < SALT_BYTES
    );
  }
}

/**
 * The 32-byte password pepper derived from the master key: HKDF-SHA256 with info
 * `sillage/v1/master/password-pepper`, the construction of `deriveMasterSubkey`.
 */
export function passwordPepper(master: Buffer): Buffer {
  return deriveMasterSubkey(master, 'password-pepper');
}

function parseStored(stored: string): ParsedHashOptions | undefined {
  if (!stored.startsWith('$argon2')) return undefined;
  try {
    return parseOptions(stored);
  } catch {
    return undefined;
  }
}

function refuse(
  reason: 'too_short' | 'too_long' | 'common' | 'context' | 'weak',
  message: string,
): PasswordPolicyResult {
  return { ok: false, reason, message };
}

/** Code points in `text`, counting no further than `limit` (the input may be huge). */
function codePointLength(text: string, limit: number): number {
  let count = 0;
  for (const _ of text) {
    count += 1;
    if (count >= limit) break;
  }
  return count;
}

function withoutSeparators(text: string): string {
  return text.replace(/[\s._-]+/gu, '');
}

function squash(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

/** The product name, the e-mail address, its local part and domain labels, the org name. */
function contextWords(context: PasswordContext): Set<string> {
  const words = new Set<string>([PRODUCT_NAME]);
  const add = (word: string, minLength = 1): void => {
    const trimmed = word.trim();
    if (codePointLength(trimmed, minLength) >= minLength) words.add(trimmed);
  };
  const email = context.email?.normalize('NFKC').toLowerCase().trim() ?? '';
  if (email !== '') {
    add(email);
    const at = email.lastIndexOf('@');
    const local = at >= 0 ? email.slice(0, at) : email;
    const domain = at >= 0 ? email.slice(at + 1) : '';
    add(local);
    for (const part of local.split(/[._+-]+/u)) add(part, 3);
    const labels = domain.split('.');
    // Every label but the top-level domain ("acme" in "mail.acme.io").
    for (const label of labels.slice(0, -1)) add(label, 3);
  }
  const org = context.orgName?.normalize('NFKC').toLowerCase().trim() ?? '';
  if (org !== '') {
    add(org);
    for (const part of org.split(/[\s._,&-]+/u)) add(part, 3);
  }
  return words;
}

function usesContextWord(result: ZxcvbnResult): boolean {
  return result.sequence.some(
    (match) => match.pattern === 'dictionary' && match.dictionaryName === 'userInputs',
  );
}

const requireCjs = createRequire(import.meta.url);
let languages: { common: typeof ZxcvbnCommon; en: typeof ZxcvbnEn } | undefined;

/**
 * zxcvbn's dictionaries (~1.6 MB of compressed word lists), loaded at the first password check
 * rather than when this module is imported: every `sillage` command and server start paid for
 * them (~0.5 s of CPU, most of it Node scanning the CommonJS files for their export names, which
 * `require` skips).
 */
function dictionaries(): { common: typeof ZxcvbnCommon; en: typeof ZxcvbnEn } {
  languages ??= {
    common: requireCjs('@zxcvbn-ts/language-common') as typeof ZxcvbnCommon,
    en: requireCjs('@zxcvbn-ts/language-en') as typeof ZxcvbnEn,
  };
  return languages;
}

let commonPasswordSet: Set<string> | undefined;

/** The zxcvbn list of ~49,000 passwords ranked by frequency in leaks, plus a few famous ones. */
function commonPasswords(): Set<string> {
  commonPasswordSet ??= new Set(
    [...dictionaries().common.dictionary['passwords-common'], ...EXTRA_COMMON_PASSWORDS].map(
      (entry) => entry.toLowerCase(),
    ),
  );
  return commonPasswordSet;
}

let estimator: ZxcvbnFactory | undefined;

/**
 * zxcvbn with the common and English dictionaries and keyboard graphs, built on first use (about
 * 0.1 s). Its cost grows steeply with length and with digits and symbols (the l33t matcher): with
 * the defaults a 256-character password-manager string took seconds of CPU. So it scores only the
 * first ZXCVBN_MAX_LENGTH characters (a prefix scores lower than the whole, so this can refuse a
 * strong password but never accept a weak one) and tries few l33t substitutions; Levenshtein
 * matching stays off (~0.3 s a check; the list check is exact anyway).
 */
function strengthEstimator(): ZxcvbnFactory {
  const { common, en } = dictionaries();
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
    maxLength: ZXCVBN_MAX_LENGTH,
    l33tMaxSubstitutions: ZXCVBN_MAX_L33T_SUBSTITUTIONS,
  });
  return estimator;
}
