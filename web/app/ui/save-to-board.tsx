// "Save to board": stores the report's query as a saved view of the project (analysts and up).
import { useId, useState } from 'preact/hooks';
import { ApiError, call } from '../api/client';
import type { AnyQuery, ViewCreated } from '../api/types';
import { canQuery, type ProjectContext } from '../context';
import { ErrorBox } from './async';

export function SaveToBoard(props: { ctx: ProjectContext; query: AnyQuery; suggested: string }) {
  const id = useId();
  const [name, setName] = useState(props.suggested);
  const [saved, setSaved] = useState<ViewCreated | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  if (!canQuery(props.ctx)) return null;
  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    try {
      setSaved(
        await call('views.create', {
          params: { projectId: props.ctx.project.id },
          body: { name, query: { ...props.query } },
        }),
      );
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)));
    }
  };
  return (
    <form class="save" onSubmit={(e) => void save(e)}>
      <label for={`${id}-name`}>Save this report to the board as</label>
      <input
        id={`${id}-name`}
        value={name}
        maxLength={200}
        required
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <button type="submit">Save to board</button>
      {saved && (
        <span role="status">
          Saved. <a href={`#/p/${props.ctx.project.id}/boards`}>Open the board</a>
        </span>
      )}
      {error && <ErrorBox error={error} />}
    </form>
  );
}
