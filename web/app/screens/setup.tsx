// Setup: the SDK snippets with this project's public token and this server's address, and a
// "send a test event" check that goes through ingest like any SDK and turns green once the event
// can be queried.
import { useId, useState } from 'preact/hooks';
import { call } from '../api/client';
import type { ProjectContext } from '../context';

export const TEST_EVENT = 'Sillage setup check';

export function snippets(
  token: string,
  origin: string,
): { id: string; title: string; code: string; note?: string }[] {
  const url = new URL(origin);
  const t = JSON.stringify(token);
  return [
    {
      id: 'mixpanel-browser',
      title: 'mixpanel-browser',
      code: `import mixpanel from 'mixpanel-browser';\n\nmixpanel.init(${t}, { api_host: '${url.origin}' });\nmixpanel.track('Signed up', { plan: 'free' });`,
    },
    {
      id: 'mixpanel-node',
      title: 'mixpanel (Node)',
      code: `const Mixpanel = require('mixpanel');\n\nconst mp = Mixpanel.init(${t}, {\n  host: '${url.host}',\n  protocol: '${url.protocol.replace(':', '')}',\n});\nmp.track('Signed up', { distinct_id: 'user-42', plan: 'free' });`,
    },
    {
      id: 'posthog-js',
      title: 'posthog-js',
      code: `import posthog from 'posthog-js';\n\nposthog.init(${t}, { api_host: '${url.origin}' });\nposthog.capture('Signed up', { plan: 'free' });`,
    },
    {
      id: 'posthog-node',
      title: 'posthog-node',
      code: `import { PostHog } from 'posthog-node';\n\nconst client = new PostHog(${t}, { host: '${url.origin}' });\nclient.capture({ distinctId: 'user-42', event: 'Signed up', properties: { plan: 'free' } });\nawait client.shutdown();`,
    },
    {
      id: 'python',
      title: 'Python (mixpanel)',
      code: `from mixpanel import Mixpanel, Consumer\n\nmp = Mixpanel(${t}, consumer=Consumer(api_host='${url.host}'))\nmp.track('user-42', 'Signed up', {'plan': 'free'})`,
      note: 'The Python SDK always uses HTTPS: serve Sillage over HTTPS (or behind a proxy) for it.',
    },
  ];
}

type CheckState =
  | { state: 'idle' }
  | { state: 'sending' }
  | { state: 'waiting'; sentAt: number }
  | { state: 'ok'; seconds: number }
  | { state: 'failed'; message: string };

async function testEventCount(projectId: string): Promise<number> {
  const r = await call('query.events', {
    params: { projectId },
    query: { limit: 1000 },
  });
  return r.events.find((e) => e.event === TEST_EVENT)?.count ?? 0;
}

export function SetupScreen(props: { ctx: ProjectContext }) {
  const { ctx } = props;
  const id = useId();
  const [check, setCheck] = useState<CheckState>({ state: 'idle' });
  const [copied, setCopied] = useState('');
  const list = snippets(ctx.project.token, location.origin);

  const sendTestEvent = async (): Promise<void> => {
    setCheck({ state: 'sending' });
    try {
      const before = await testEventCount(ctx.project.id);
      const sentAt = Date.now();
      // Through the public ingest route, exactly as an SDK sends (PostHog's capture shape).
      const res = await fetch('/capture/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          api_key: ctx.project.token,
          event: TEST_EVENT,
          distinct_id: 'sillage-setup-check',
          properties: { source: 'dashboard setup screen' },
        }),
      });
      if (!res.ok) throw new Error(`the ingest route answered ${res.status}`);
      setCheck({ state: 'waiting', sentAt });
      // Bounded wait: 20 looks, 1 s apart.
      for (let i = 0; i < 20; i++) {
        if ((await testEventCount(ctx.project.id)) > before) {
          setCheck({ state: 'ok', seconds: (Date.now() - sentAt) / 1000 });
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      setCheck({
        state: 'failed',
        message: 'The event was accepted but is not queryable after 20 s. Check the server log.',
      });
    } catch (e) {
      setCheck({ state: 'failed', message: e instanceof Error ? e.message : String(e) });
    }
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Set up {ctx.project.name}</h1>
      <p>
        Keep the SDK you have and change only its host. The project token below is public: it can
        send events and read nothing, so it is safe in a web page.
      </p>
      <p>
        Project token: <code class="token">{ctx.project.token}</code> · Time zone:{' '}
        {ctx.project.timezone}
      </p>
      <div class={`notice check ${check.state}`} role="status" aria-live="polite">
        <h2>Check the connection</h2>
        <p>
          {check.state === 'idle' &&
            'Send one test event through the ingest route and see it arrive.'}
          {check.state === 'sending' && 'Sending a test event…'}
          {check.state === 'waiting' && 'Event accepted; waiting until it can be queried…'}
          {check.state === 'ok' &&
            `Received: the test event is stored and queryable (${check.seconds.toFixed(1)} s).`}
          {check.state === 'failed' && `Not received: ${check.message}`}
        </p>
        <button
          type="button"
          class="primary"
          disabled={check.state === 'sending' || check.state === 'waiting'}
          onClick={() => void sendTestEvent()}
        >
          Send a test event
        </button>
      </div>
      {list.map((s) => (
        <article class="snippet" key={s.id} aria-labelledby={`${id}-${s.id}`}>
          <h2 id={`${id}-${s.id}`}>{s.title}</h2>
          <pre tabIndex={0}>
            <code>{s.code}</code>
          </pre>
          {s.note && <p class="hint">{s.note}</p>}
          <button
            type="button"
            onClick={() =>
              void navigator.clipboard
                ?.writeText(s.code)
                .then(() => setCopied(s.id))
                .catch(() => setCopied(''))
            }
          >
            Copy<span class="sr-only"> the {s.title} snippet</span>
          </button>
          {copied === s.id && <span role="status"> Copied.</span>}
        </article>
      ))}
    </section>
  );
}
