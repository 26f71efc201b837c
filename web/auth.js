// Sillage's sign-in and account-setup pages: they call the account API and run the passkey
// ceremonies with @simplewebauthn/browser. No framework and no build step; served with a CSP that
// allows scripts from this origin only.
'use strict';

(() => {
  const { startRegistration, startAuthentication } = window.SimpleWebAuthnBrowser;
  const $ = (id) => document.getElementById(id);

  /** POSTs JSON to the API; throws with the server's message on an error answer. */
  async function api(path, body) {
    const res = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
      credentials: 'same-origin',
    });
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error(data?.error?.message ?? `request failed (${res.status})`);
    return data;
  }

  function show(id) {
    $('error').textContent = '';
    for (const section of document.querySelectorAll('section')) section.hidden = section.id !== id;
  }

  function guard(fn) {
    return async (event) => {
      event.preventDefault();
      try {
        await fn();
      } catch (error) {
        $('error').textContent = error instanceof Error ? error.message : String(error);
      }
    };
  }

  function setupPage() {
    // The token travels in the fragment (never sent to servers); drop it from the address bar.
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    history.replaceState(null, '', location.pathname);
    let setupToken = null;
    let totpFactor = null;

    const finish = (done) => {
      $('who').textContent = done.user.email;
      $('codes').textContent = done.recovery_codes.join('\n');
      show('done');
    };

    $('password-form').addEventListener(
      'submit',
      guard(async () => {
        const accepted = await api('/api/v1/auth/invitations/accept', {
          token,
          password: $('password').value,
        });
        if (accepted.status === 'joined') {
          location.assign('/login');
          return;
        }
        setupToken = accepted.setup_token;
        $('totp-choice').hidden = !accepted.methods.includes('totp');
        show('factor');
      }),
    );

    $('passkey-button').addEventListener(
      'click',
      guard(async () => {
        const { passkey } = await api('/api/v1/auth/setup/passkey/options', {
          setup_token: setupToken,
        });
        const response = await startRegistration({ optionsJSON: passkey });
        finish(
          await api('/api/v1/auth/setup/complete', {
            setup_token: setupToken,
            method: 'passkey',
            response,
            label: $('label').value,
          }),
        );
      }),
    );

    $('totp-button').addEventListener(
      'click',
      guard(async () => {
        totpFactor = await api('/api/v1/auth/setup/totp', { setup_token: setupToken });
        $('totp-secret').textContent = totpFactor.secret;
        show('totp');
      }),
    );

    $('totp-form').addEventListener(
      'submit',
      guard(async () => {
        finish(
          await api('/api/v1/auth/setup/complete', {
            setup_token: setupToken,
            method: 'totp',
            code: $('totp-code').value,
          }),
        );
      }),
    );
  }

  function loginPage() {
    let started = null;

    const finish = (done) => {
      $('who').textContent = done.user.email;
      $('orgs').replaceChildren(
        ...done.organisations.map((org) => {
          const item = document.createElement('li');
          item.textContent = `${org.name} (${org.role})`;
          return item;
        }),
      );
      show('done');
    };

    $('login-form').addEventListener(
      'submit',
      guard(async () => {
        started = await api('/api/v1/auth/login', {
          email: $('email').value,
          password: $('password').value,
        });
        $('passkey-button').hidden = !started.methods.includes('passkey');
        $('code-form').hidden = !started.methods.some((m) => m === 'totp' || m === 'recovery_code');
        show('factor');
      }),
    );

    $('passkey-button').addEventListener(
      'click',
      guard(async () => {
        const response = await startAuthentication({ optionsJSON: started.passkey });
        finish(
          await api('/api/v1/auth/login/verify', {
            login_token: started.login_token,
            method: 'passkey',
            response,
          }),
        );
      }),
    );

    $('code-form').addEventListener(
      'submit',
      guard(async () => {
        const code = $('code').value.trim();
        // Six digits are an app code; anything longer is a recovery code.
        const method = /^\d{6}$/.test(code) ? 'totp' : 'recovery_code';
        finish(
          await api('/api/v1/auth/login/verify', {
            login_token: started.login_token,
            method,
            code,
          }),
        );
      }),
    );
  }

  if (document.body.dataset.page === 'setup') setupPage();
  if (document.body.dataset.page === 'login') loginPage();
})();
