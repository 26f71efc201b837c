// The app shell: session check, sign-in, organisation and project picker, navigation, the step-up
// prompt, and the screen for the current route.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { currentSession, signOut } from './api/auth';
import { call, setClientHooks } from './api/client';
import type { OrgMembership, SessionInfo } from './api/types';
import type { ProjectContext } from './context';
import { hrefOf, parseHash, useRoute, type Screen } from './router';
import { Audit } from './screens/audit';
import { Boards } from './screens/boards';
import { Cohorts } from './screens/cohorts';
import { Flows } from './screens/flows';
import { Lifecycle } from './screens/lifecycle';
import { Frequency } from './screens/frequency';
import { Funnels } from './screens/funnels';
import { Insights } from './screens/insights';
import { Live } from './screens/live';
import { NoProject } from './screens/no-project';
import { Privacy } from './screens/privacy';
import { Retention } from './screens/retention';
import { Security } from './screens/security';
import { SetupScreen } from './screens/setup';
import { SignIn } from './screens/sign-in';
import { Users } from './screens/users';
import { ErrorBox, Loading, Show, useLoad } from './ui/async';
import { StepUpDialog, type StepUpRequest } from './ui/step-up';

const NAV: { screen: Screen; label: string; viewer: boolean; ownerOnly?: boolean }[] = [
  { screen: 'insights', label: 'Insights', viewer: false },
  { screen: 'funnels', label: 'Funnels', viewer: false },
  { screen: 'retention', label: 'Retention', viewer: false },
  { screen: 'flows', label: 'Flows', viewer: false },
  { screen: 'lifecycle', label: 'Lifecycle', viewer: false },
  { screen: 'frequency', label: 'Frequency', viewer: false },
  { screen: 'cohorts', label: 'Cohorts', viewer: false },
  { screen: 'users', label: 'Users', viewer: false },
  { screen: 'boards', label: 'Boards', viewer: true },
  { screen: 'live', label: 'Live events', viewer: false },
  { screen: 'setup', label: 'Setup', viewer: false },
  { screen: 'privacy', label: 'Privacy', viewer: false },
  { screen: 'security', label: 'Security', viewer: true },
  { screen: 'audit', label: 'Audit', viewer: false, ownerOnly: true },
];

const ORG_KEY = 'sillage.org';

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [bootError, setBootError] = useState<unknown>(null);
  const [stepUp, setStepUp] = useState<StepUpRequest | null>(null);

  const check = useCallback(() => {
    currentSession().then(setSession, (e: unknown) => setBootError(e));
  }, []);

  useEffect(() => {
    setClientHooks({
      stepUp: (code, reason) =>
        new Promise<boolean>((resolve) => setStepUp({ code, reason, resolve })),
      signedOut: () => setSession(null),
    });
    check();
  }, [check]);

  if (bootError) {
    return (
      <main class="auth" id="main">
        <h1>Sillage</h1>
        <ErrorBox error={bootError as never} onRetry={() => location.reload()} />
      </main>
    );
  }
  if (session === undefined) return <Loading what="Sillage" />;
  if (session === null) return <SignIn onSignedIn={setSession} />;
  return (
    <>
      <Signed session={session} onSignedOut={() => setSession(null)} />
      {stepUp && <StepUpDialog request={stepUp} onClose={() => setStepUp(null)} />}
    </>
  );
}

function Signed(props: { session: SessionInfo; onSignedOut: () => void }) {
  const { session } = props;
  const route = useRoute();
  const [orgId, setOrgId] = useState<string>(
    () => localStorage.getItem(ORG_KEY) ?? session.organisations[0]?.id ?? '',
  );
  const org: OrgMembership | undefined =
    session.organisations.find((o) => o.id === orgId) ?? session.organisations[0];
  const [projects, reloadProjects] = useLoad(
    org
      ? () => call('orgs.projects.list', { params: { orgId: org.id } }).then((r) => r.projects)
      : null,
    [org?.id],
  );
  const [menuOpen, setMenuOpen] = useState(false);

  // Without a project in the URL, open the first one. The address is read now, not from this
  // render: effects run after paint, and a link followed while the projects were loading (the
  // hash already changed, the hashchange not yet rendered) must not be replaced by the old route.
  useEffect(() => {
    if (projects.state !== 'ok') return;
    const first = projects.value[0];
    const current = parseHash(location.hash);
    const known = projects.value.some((p) => p.id === current.projectId);
    if (first && !known) location.replace(hrefOf(first.id, current.screen));
  }, [projects, route.projectId, route.screen]);

  useEffect(() => setMenuOpen(false), [route.screen, route.projectId]);

  const project =
    projects.state === 'ok' ? projects.value.find((p) => p.id === route.projectId) : undefined;
  const viewer = org?.role === 'viewer';
  const nav = NAV.filter((n) => (!viewer || n.viewer) && (!n.ownerOnly || org?.role === 'owner'));
  const screen = viewer && !nav.some((n) => n.screen === route.screen) ? 'boards' : route.screen;

  const doSignOut = (): void => {
    void signOut().finally(props.onSignedOut);
  };

  return (
    <div class="shell">
      {/* The hash is the route: following `#main` would leave the report, so focus it instead. */}
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Sillage</span>
        {session.organisations.length > 1 && (
          <>
            <label for="org-picker" class="sr-only">
              Organisation
            </label>
            <select
              id="org-picker"
              value={org?.id}
              onChange={(e) => {
                localStorage.setItem(ORG_KEY, e.currentTarget.value);
                setOrgId(e.currentTarget.value);
                location.hash = '';
              }}
            >
              {session.organisations.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          </>
        )}
        {projects.state === 'ok' && projects.value.length > 0 && (
          <>
            <label for="project-picker" class="sr-only">
              Project
            </label>
            <select
              id="project-picker"
              value={route.projectId ?? ''}
              onChange={(e) => location.assign(hrefOf(e.currentTarget.value, screen))}
            >
              {projects.value.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </>
        )}
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <span class="who">
          {session.user.email}
          {org && <span class="role"> · {org.role}</span>}
        </span>
        <button type="button" class="link" onClick={doSignOut}>
          Sign out
        </button>
      </header>
      <nav id="nav" class={menuOpen ? 'side open' : 'side'} aria-label="Main">
        <ul>
          {project &&
            nav.map((n) => (
              <li key={n.screen}>
                <a
                  href={hrefOf(project.id, n.screen)}
                  aria-current={n.screen === screen ? 'page' : undefined}
                >
                  {n.label}
                </a>
              </li>
            ))}
        </ul>
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {!org ? (
          <NoProject org={null} onCreated={reloadProjects} />
        ) : (
          <Show value={projects} what="projects" onRetry={reloadProjects}>
            {(list) =>
              list.length === 0 ? (
                <NoProject org={org} onCreated={reloadProjects} />
              ) : project ? (
                <ScreenFor screen={screen} ctx={{ session, org, project }} />
              ) : (
                <Loading what="the project" />
              )
            }
          </Show>
        )}
      </main>
    </div>
  );
}

function ScreenFor(props: { screen: Screen; ctx: ProjectContext }) {
  const { ctx } = props;
  switch (props.screen) {
    case 'insights':
      return <Insights ctx={ctx} key={ctx.project.id} />;
    case 'funnels':
      return <Funnels ctx={ctx} key={ctx.project.id} />;
    case 'retention':
      return <Retention ctx={ctx} key={ctx.project.id} />;
    case 'flows':
      return <Flows ctx={ctx} key={ctx.project.id} />;
    case 'lifecycle':
      return <Lifecycle ctx={ctx} key={ctx.project.id} />;
    case 'frequency':
      return <Frequency ctx={ctx} key={ctx.project.id} />;
    case 'cohorts':
      return <Cohorts ctx={ctx} key={ctx.project.id} />;
    case 'users':
      return <Users ctx={ctx} key={ctx.project.id} />;
    case 'boards':
      return <Boards ctx={ctx} key={ctx.project.id} />;
    case 'live':
      return <Live ctx={ctx} key={ctx.project.id} />;
    case 'setup':
      return <SetupScreen ctx={ctx} key={ctx.project.id} />;
    case 'privacy':
      return <Privacy ctx={ctx} key={ctx.project.id} />;
    case 'security':
      return <Security ctx={ctx} key={ctx.project.id} />;
    case 'audit':
      return <Audit ctx={ctx} key={ctx.project.id} />;
  }
}
