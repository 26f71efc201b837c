// Test helper: a browser-like client of the account API over real HTTP — it keeps cookies, sends
// the CSRF token and the Origin a browser would, and drives passkey and TOTP ceremonies with a
// software authenticator.
import { totpCode } from '../../src/auth/totp.js';
import type { SoftwareAuthenticator } from './authenticator.js';

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read JSON freely
  body: any;
  headers: Headers;
  setCookies: string[];
}

/** The token of a setup or invitation link (it travels in the fragment). */
export function linkToken(link: string): string {
  const token = new URL(link).hash.replace(/^#token=/, '');
  if (!token) throw new Error('link without a token');
  return token;
}

export class AccountClient {
  readonly cookies = new Map<string, string>();
  csrf: string | null = null;

  constructor(
    readonly base: string,
    /** The Origin a browser on the Sillage page sends (the public URL). */
    readonly origin: string,
    readonly userAgent = 'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    if (method !== 'GET') {
      headers.origin = this.origin;
      if (this.csrf) headers['x-csrf-token'] = this.csrf;
    }
    const res = await fetch(this.base + path, {
      method,
      headers: { ...headers, ...extra },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const setCookies = res.headers.getSetCookie();
    for (const cookie of setCookies) {
      const [pair] = cookie.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/;\s*Max-Age=0/i.test(cookie) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const answer: ApiAnswer = {
      status: res.status,
      body: parsed,
      headers: res.headers,
      setCookies,
    };
    const csrf = (parsed as { csrf_token?: unknown } | null)?.csrf_token;
    if (typeof csrf === 'string') this.csrf = csrf;
    return answer;
  }

  /** Forgets the session (keeps the device cookie, as a browser would after signing out). */
  dropSession(): void {
    this.cookies.delete('__Host-sillage_session');
    this.csrf = null;
  }

  async accept(link: string, password: string): Promise<ApiAnswer> {
    return this.call('POST', '/api/v1/auth/invitations/accept', {
      token: linkToken(link),
      password,
    });
  }

  /** Accepts a link and enrols a passkey: the account is active and signed in. */
  async setUpWithPasskey(
    link: string,
    password: string,
    authenticator: SoftwareAuthenticator,
  ): Promise<ApiAnswer> {
    const accepted = await this.accept(link, password);
    if (accepted.status !== 200) return accepted;
    const setupToken = accepted.body.setup_token as string;
    const options = await this.call('POST', '/api/v1/auth/setup/passkey/options', {
      setup_token: setupToken,
    });
    if (options.status !== 200) return options;
    const response = authenticator.createCredential(options.body.passkey, this.origin);
    return this.call('POST', '/api/v1/auth/setup/complete', {
      setup_token: setupToken,
      method: 'passkey',
      response,
      label: 'Test key',
    });
  }

  /** Accepts a link and enrols an authenticator app; returns the answer and the TOTP secret. */
  async setUpWithTotp(
    link: string,
    password: string,
    nowMs: number,
  ): Promise<{ answer: ApiAnswer; secret: string }> {
    const accepted = await this.accept(link, password);
    if (accepted.status !== 200) return { answer: accepted, secret: '' };
    const setupToken = accepted.body.setup_token as string;
    const started = await this.call('POST', '/api/v1/auth/setup/totp', {
      setup_token: setupToken,
    });
    if (started.status !== 200) return { answer: started, secret: '' };
    const secret = started.body.secret as string;
    const answer = await this.call('POST', '/api/v1/auth/setup/complete', {
      setup_token: setupToken,
      method: 'totp',
      code: await totpCode(secret, nowMs),
    });
    return { answer, secret };
  }

  async login(email: string, password: string): Promise<ApiAnswer> {
    return this.call('POST', '/api/v1/auth/login', { email, password });
  }

  async loginWithPasskey(
    email: string,
    password: string,
    authenticator: SoftwareAuthenticator,
    origin = this.origin,
  ): Promise<ApiAnswer> {
    const started = await this.login(email, password);
    if (started.status !== 200) return started;
    if (!started.body.passkey) throw new Error('no passkey offered');
    const response = authenticator.getAssertion(started.body.passkey, origin);
    return this.call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'passkey',
      response,
    });
  }

  async loginWithTotp(
    email: string,
    password: string,
    secret: string,
    nowMs: number,
  ): Promise<ApiAnswer> {
    const started = await this.login(email, password);
    if (started.status !== 200) return started;
    return this.call('POST', '/api/v1/auth/login/verify', {
      login_token: started.body.login_token,
      method: 'totp',
      code: await totpCode(secret, nowMs),
    });
  }

  async stepUpWithPasskey(
    authenticator: SoftwareAuthenticator,
    origin = this.origin,
  ): Promise<ApiAnswer> {
    const options = await this.call('POST', '/api/v1/auth/step-up/options');
    if (options.status !== 200) return options;
    if (!options.body.passkey) throw new Error('no passkey offered for step-up');
    const response = authenticator.getAssertion(options.body.passkey, origin);
    return this.call('POST', '/api/v1/auth/step-up', { method: 'passkey', response });
  }
}
