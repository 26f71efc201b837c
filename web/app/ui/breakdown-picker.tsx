// The breakdown picker of Insights, Funnels and Retention: up to 3 properties (event properties
// from the discovery API, or a person property by name), or saved cohorts to compare.
import { useId } from 'preact/hooks';
import {
  chooseBreakdown,
  COHORTS_CHOICE,
  MAX_BREAKDOWN_COHORTS,
  MAX_BREAKDOWN_PROPERTIES,
  PERSON,
  type BreakdownState,
} from './breakdown';

export function BreakdownPicker(props: {
  value: BreakdownState;
  /** Event properties seen in the project. */
  properties: string[];
  cohorts: readonly { id: string; name: string }[];
  projectId: string;
  onChange: (next: BreakdownState) => void;
}) {
  const id = useId();
  const { value } = props;
  const chosen = value.by === 'properties' ? value.properties : [];
  const choose = (i: number, choice: string): void =>
    props.onChange(chooseBreakdown(value, i, choice));

  const row = (name: string, i: number) => {
    const first = i === 0;
    const n = first ? '' : ` ${i + 1}`;
    const isPerson = name.startsWith(PERSON);
    // The other rows' properties are not offered again (the API refuses a repeat).
    const others = new Set(chosen.filter((_, j) => j !== i));
    const names = props.properties.filter((p) => !others.has(p));
    if (name !== '' && !isPerson && !names.includes(name)) names.unshift(name);
    const selected = value.by === 'cohorts' ? COHORTS_CHOICE : isPerson ? PERSON : name;
    return (
      <div class="row" key={i}>
        <span class="field">
          <label for={`${id}-p${i}`}>{first ? 'Breakdown by' : `Breakdown property${n}`}</label>
          <select
            id={`${id}-p${i}`}
            value={selected}
            onChange={(e) => choose(i, e.currentTarget.value)}
          >
            <option value="">{first ? 'No breakdown' : 'Choose a property'}</option>
            <optgroup label="Who">
              <option value={PERSON}>Person property…</option>
              {first && <option value={COHORTS_CHOICE}>Cohorts…</option>}
            </optgroup>
            <optgroup label="Event properties">
              {names.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </optgroup>
          </select>
        </span>
        {value.by === 'properties' && isPerson && (
          <span class="field">
            <label for={`${id}-person${i}`}>{`Breakdown person property${n}`}</label>
            <input
              id={`${id}-person${i}`}
              value={name.slice(PERSON.length)}
              placeholder="e.g. plan"
              onInput={(e) => choose(i, PERSON + e.currentTarget.value.trim())}
            />
          </span>
        )}
        {!first && (
          <button
            type="button"
            class="link"
            aria-label={`Remove breakdown property${n}`}
            onClick={() =>
              props.onChange({ by: 'properties', properties: chosen.filter((_, j) => j !== i) })
            }
          >
            Remove
          </button>
        )}
      </div>
    );
  };

  const picked = value.by === 'cohorts' ? value.cohorts : [];
  return (
    <fieldset class="breakdown">
      <legend>Breakdown</legend>
      {value.by === 'cohorts' ? row('', 0) : (chosen.length === 0 ? [''] : chosen).map(row)}
      {value.by === 'properties' &&
        chosen.length >= 1 &&
        chosen.length < MAX_BREAKDOWN_PROPERTIES && (
          <button
            type="button"
            onClick={() => props.onChange({ by: 'properties', properties: [...chosen, ''] })}
          >
            Add a breakdown property
          </button>
        )}
      {value.by === 'properties' && chosen.length > 1 && (
        <p class="hint">
          Each combination of values is a row, named “value / value”; “(not set)” where an event or
          person lacks one.
        </p>
      )}
      {value.by === 'cohorts' &&
        (props.cohorts.length === 0 ? (
          <p class="hint">
            No cohort saved yet. Build one on the{' '}
            <a href={`#/p/${props.projectId}/cohorts`}>Cohorts</a> screen, then compare it here.
          </p>
        ) : (
          <fieldset class="group">
            <legend>Cohorts to compare</legend>
            {props.cohorts.map((c) => {
              const on = picked.includes(c.id);
              return (
                <label class="check" key={c.id}>
                  <input
                    type="checkbox"
                    checked={on}
                    disabled={!on && picked.length >= MAX_BREAKDOWN_COHORTS}
                    onChange={(e) =>
                      props.onChange({
                        by: 'cohorts',
                        cohorts: e.currentTarget.checked
                          ? [...picked, c.id]
                          : picked.filter((x) => x !== c.id),
                      })
                    }
                  />{' '}
                  {c.name}
                </label>
              );
            })}
            <p class="hint">
              A row per cohort (a user in several counts in each), and one for the users in none of
              them. Up to {MAX_BREAKDOWN_COHORTS}.
            </p>
          </fieldset>
        ))}
    </fieldset>
  );
}
