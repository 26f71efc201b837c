// Building blocks shared by the report screens: date range with presets, event and property
// pickers fed by the discovery API, and a filter editor.
import { useId } from 'preact/hooks';
import { call } from '../api/client';
import type { EventNames, EventProperties, Filter, FilterOp } from '../api/types';
import type { ProjectContext } from '../context';
import { PRESETS, resolvePreset, type DateRange, type PresetId } from './dates';
import { useLoad, type Loadable } from './async';

export function useEventNames(ctx: ProjectContext): [Loadable<string[]>, () => void] {
  return useLoad(
    () =>
      call<EventNames>('query.events', {
        params: { projectId: ctx.project.id },
        query: { limit: 1000 },
      }).then((r) => r.events.map((e) => e.event)),
    [ctx.project.id],
  );
}

export function usePropertyNames(ctx: ProjectContext): Loadable<string[]> {
  return useLoad(
    () =>
      call<EventProperties>('query.properties', {
        params: { projectId: ctx.project.id },
        query: { limit: 1000 },
      }).then((r) => r.properties.map((p) => p.property)),
    [ctx.project.id],
  )[0];
}

export function DateRangePicker(props: {
  value: DateRange;
  timeZone: string;
  onChange: (range: DateRange) => void;
}) {
  const id = useId();
  const { value } = props;
  return (
    <fieldset class="inline">
      <legend>Date range</legend>
      <label for={`${id}-preset`} class="sr-only">
        Date range preset
      </label>
      <select
        id={`${id}-preset`}
        value={value.preset}
        onChange={(e) => {
          const preset = e.currentTarget.value as PresetId;
          props.onChange(
            preset === 'custom' ? { ...value, preset } : resolvePreset(preset, props.timeZone),
          );
        }}
      >
        {PRESETS.map((p) => (
          <option key={p.id} value={p.id}>
            {p.label}
          </option>
        ))}
      </select>
      {value.preset === 'custom' && (
        <>
          <label for={`${id}-from`}>From</label>
          <input
            id={`${id}-from`}
            type="date"
            value={value.from}
            max={value.to}
            onChange={(e) => props.onChange({ ...value, from: e.currentTarget.value })}
          />
          <label for={`${id}-to`}>to</label>
          <input
            id={`${id}-to`}
            type="date"
            value={value.to}
            min={value.from}
            onChange={(e) => props.onChange({ ...value, to: e.currentTarget.value })}
          />
        </>
      )}
      <span class="hint">
        {value.from} – {value.to} ({props.timeZone})
      </span>
    </fieldset>
  );
}

/** A select of known names; a name missing from the list (saved earlier) is still offered. */
export function NamePicker(props: {
  label: string;
  names: string[];
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  id?: string;
}) {
  const auto = useId();
  const id = props.id ?? auto;
  const names =
    props.value && !props.names.includes(props.value) ? [props.value, ...props.names] : props.names;
  return (
    <span class="field">
      <label for={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.placeholder !== undefined && <option value="">{props.placeholder}</option>}
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </span>
  );
}

const OPS: { op: FilterOp; label: string; value: 'text' | 'list' | 'number' | 'none' }[] = [
  { op: 'eq', label: 'equals', value: 'text' },
  { op: 'neq', label: 'does not equal', value: 'text' },
  { op: 'contains', label: 'contains', value: 'text' },
  { op: 'not_contains', label: 'does not contain', value: 'text' },
  { op: 'in', label: 'is one of (comma-separated)', value: 'list' },
  { op: 'not_in', label: 'is none of (comma-separated)', value: 'list' },
  { op: 'gt', label: '>', value: 'number' },
  { op: 'gte', label: '≥', value: 'number' },
  { op: 'lt', label: '<', value: 'number' },
  { op: 'lte', label: '≤', value: 'number' },
  { op: 'is_set', label: 'is set', value: 'none' },
  { op: 'is_not_set', label: 'is not set', value: 'none' },
];

/** The text a filter's value is edited as. */
export function filterValueText(f: Filter): string {
  if (Array.isArray(f.value)) return f.value.join(', ');
  return f.value === undefined ? '' : String(f.value);
}

/** A filter with the value as typed (typed for its operator only when sent: see completeFilters). */
export function withValueText(f: Filter, text: string): Filter {
  const kind = OPS.find((o) => o.op === f.op)?.value ?? 'text';
  if (kind === 'none') return { property: f.property, op: f.op };
  return { ...f, value: text };
}

/** The value as the API wants it: a number for comparisons, a list for in / not in. */
function typedValue(f: Filter): Filter['value'] {
  const kind = OPS.find((o) => o.op === f.op)?.value ?? 'text';
  const text = filterValueText(f);
  if (kind === 'none') return undefined;
  if (kind === 'number') return text.trim() === '' ? undefined : Number(text);
  if (kind === 'list')
    return text
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  return text;
}

export function FiltersEditor(props: {
  filters: Filter[];
  properties: string[];
  onChange: (filters: Filter[]) => void;
}) {
  const id = useId();
  const set = (i: number, f: Filter): void =>
    props.onChange(props.filters.map((x, j) => (j === i ? f : x)));
  return (
    <fieldset>
      <legend>Filters (all must match)</legend>
      {props.filters.length === 0 && <p class="hint">No filters: every event counts.</p>}
      {props.filters.map((f, i) => {
        const kind = OPS.find((o) => o.op === f.op)?.value ?? 'text';
        return (
          <div class="row" key={i}>
            <NamePicker
              id={`${id}-p${i}`}
              label="Property"
              names={props.properties}
              value={f.property}
              onChange={(property) => set(i, { ...f, property })}
            />
            <span class="field">
              <label for={`${id}-o${i}`}>Operator</label>
              <select
                id={`${id}-o${i}`}
                value={f.op}
                onChange={(e) =>
                  set(
                    i,
                    withValueText(
                      { ...f, op: e.currentTarget.value as FilterOp },
                      filterValueText(f),
                    ),
                  )
                }
              >
                {OPS.map((o) => (
                  <option key={o.op} value={o.op}>
                    {o.label}
                  </option>
                ))}
              </select>
            </span>
            {kind !== 'none' && (
              <span class="field">
                <label for={`${id}-v${i}`}>Value</label>
                <input
                  id={`${id}-v${i}`}
                  type={kind === 'number' ? 'number' : 'text'}
                  value={filterValueText(f)}
                  onInput={(e) => set(i, withValueText(f, e.currentTarget.value))}
                />
              </span>
            )}
            <button
              type="button"
              class="link"
              aria-label={`Remove filter ${i + 1}`}
              onClick={() => props.onChange(props.filters.filter((_, j) => j !== i))}
            >
              Remove
            </button>
          </div>
        );
      })}
      <button
        type="button"
        onClick={() =>
          props.onChange([
            ...props.filters,
            { property: props.properties[0] ?? '$browser', op: 'eq', value: '' },
          ])
        }
      >
        Add filter
      </button>
    </fieldset>
  );
}

/** Filters ready to send: values typed, and a half-typed filter left out. */
export function completeFilters(filters: Filter[]): Filter[] {
  const out: Filter[] = [];
  for (const f of filters) {
    if (f.property === '') continue;
    if (f.op === 'is_set' || f.op === 'is_not_set') {
      out.push({ property: f.property, op: f.op });
      continue;
    }
    const value = typedValue(f);
    if (
      value === undefined ||
      value === '' ||
      (typeof value === 'number' && !Number.isFinite(value))
    )
      continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out.push({ property: f.property, op: f.op, value });
  }
  return out;
}
