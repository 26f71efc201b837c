// The first screen of an organisation without a project: what a project is, and a form to
// create one (owners and admins) or who to ask.
import { useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { OrgMembership } from '../api/types';
import { Empty, ErrorBox } from '../ui/async';

export function NoProject(props: { org: OrgMembership | null; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const { org } = props;
  if (!org)
    return (
      <Empty title="You are not in any organisation">
        <p>Ask an owner of your organisation for an invitation link.</p>
      </Empty>
    );
  const mayCreate = org.role === 'owner' || org.role === 'admin';
  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    try {
      await call('orgs.projects.create', { params: { orgId: org.id }, body: { name } });
      props.onCreated();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    }
  };
  return (
    <Empty title={`${org.name} has no project yet`}>
      <p>
        A project holds the events of one product (a web site, an app). Its public token goes in
        your SDK; it can send events and read nothing.
      </p>
      {mayCreate ? (
        <form onSubmit={(e) => void create(e)}>
          <label for="new-project-name">Project name</label>
          <input
            id="new-project-name"
            required
            maxLength={200}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          <button type="submit" class="primary">
            Create the project
          </button>
          {error && <ErrorBox error={error} />}
        </form>
      ) : (
        <p>Ask an owner or admin of {org.name} to create one.</p>
      )}
    </Empty>
  );
}
