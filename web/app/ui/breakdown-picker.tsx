// The breakdown picker of Insights, Funnels and Retention: up to 3 properties (event properties
// from the discovery API, or a person property by name), or saved cohorts to compare, alone or
// with up to 2 properties (a row per cohort and values).
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
  const chosen = value.properties;
  // The picker's rows: the cohorts' row first when comparing cohorts, then the properties.
  const rows = value.by === 'cohorts' ? ['', ...chosen] : chosen;
  const choose = (i: number, choice: string): void =>
    props.onChange(chooseBreakdown(value, i, choice));

  const row = (name: string, i: number) => {
    const first = i === 0;
    const n = first ? '' : ` ${i + 1}`;
    const isPerson = name.startsWith(PERSON);
    // The other rows' properties are not offered again (the API refuses a repeat).
    const others = new Set(rows.filter((_, j) => j !== i));
    const names = props.properties.filter((p) => !others.has(p));
    if (name !== '' && !isPerson && !names.includes(name)) names.unshift(name);
    const selected = value.by === 'cohorts' && first ? COHORTS_CHOICE : isPerson ? PERSON : name;
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
        {isPerson && (
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
              props.onChange({
                ...value,
                properties: rows.filter((_, j) => j !== i).slice(value.by === 'cohorts' ? 1 : 0),
              })
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
      {(rows.length === 0 ? [''] : rows).map(row)}
      {rows.length >= 1 && rows.length < MAX_BREAKDOWN_PROPERTIES && (
        <button
          type="button"
          onClick={() => props.onChange({ ...value, properties: [...chosen, ''] })}
        >
          Add a breakdown property
        </button>
      )}
      {rows.length > 1 && (
        <p class="hint">
          Each combination of values is a row, named “value / value”; “(not set)” where an event or
          person lacks one{value.by === 'cohorts' ? ', a cohort by its name' : ''}.
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
                        ...value,
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
