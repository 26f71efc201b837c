// Building blocks shared by the report screens: date range with presets, event and property
// pickers fed by the discovery API, and a filter editor.
import { useId } from 'preact/hooks';
import { call } from '../api/client';
import type { Filter, FilterNode, FilterOp } from '../api/types';
import type { ProjectContext } from '../context';
import {
  isRelativeDay,
  normaliseRange,
  presetRange,
  PRESETS,
  resolveDay,
  resolveRange,
  type DateRange,
  type PresetId,
} from './dates';
import { useLoad, type Loadable } from './async';

export function useEventNames(ctx: ProjectContext): [Loadable<string[]>, () => void] {
  return useLoad(
    () =>
      call('query.events', {
        params: { projectId: ctx.project.id },
        query: { limit: 1000 },
      }).then((r) => r.events.map((e) => e.event)),
    [ctx.project.id],
  );
}

export function usePropertyNames(ctx: ProjectContext): Loadable<string[]> {
  return useLoad(
    () =>
      call('query.properties', {
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
  const value = normaliseRange(props.value);
  const days = resolveRange(value, props.timeZone);
  const fixed = value.preset === 'custom';
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
          // A custom range starts from the days (or relative days) shown now.
          if (preset === 'custom')
            props.onChange({ preset, from: days?.from ?? '', to: days?.to ?? '' });
          else if (preset === 'relative')
            props.onChange({
              preset,
              from: isRelativeDay(value.from) ? value.from : '-29d',
              to: isRelativeDay(value.to) ? value.to : 'today',
            });
          else props.onChange(presetRange(preset));
        }}
      >
        {PRESETS.map((p) => (
          <option key={p.id} value={p.id}>
            {p.label}
          </option>
        ))}
      </select>
      {(fixed || value.preset === 'relative') && (
        <>
          <label for={`${id}-from`}>From</label>
          <input
            id={`${id}-from`}
            type={fixed ? 'date' : 'text'}
            value={value.from}
            size={fixed ? undefined : 18}
            aria-describedby={fixed ? undefined : `${id}-help`}
            aria-invalid={resolveDay(value.from, props.timeZone) === null}
            onInput={(e) => props.onChange({ ...value, from: e.currentTarget.value.trim() })}
          />
          <label for={`${id}-to`}>to</label>
          <input
            id={`${id}-to`}
            type={fixed ? 'date' : 'text'}
            value={value.to}
            size={fixed ? undefined : 18}
            aria-describedby={fixed ? undefined : `${id}-help`}
            aria-invalid={resolveDay(value.to, props.timeZone) === null}
            onInput={(e) => props.onChange({ ...value, to: e.currentTarget.value.trim() })}
          />
        </>
      )}
      <span class="hint" id={`${id}-help`}>
        {days ? `${days.from} – ${days.to} (${props.timeZone})` : 'Not a date range yet.'}
        {value.preset === 'relative' &&
          ' Relative days: today, yesterday, start_of_week, start_of_month, start_of_year, each with an optional offset such as -6d, -2w, -1m, -1y (e.g. start_of_month-1m).'}
        {value.preset !== 'custom' && ' Saved reports keep the range relative.'}
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

/** A day, week or month selector ("Per …"): retention's periods, lifecycle's intervals. */
export function PeriodPicker(props: {
  id: string;
  value: 'day' | 'week' | 'month';
  onChange: (value: 'day' | 'week' | 'month') => void;
}) {
  return (
    <span class="field">
      <label for={props.id}>Per</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value as 'day' | 'week' | 'month')}
      >
        <option value="day">day</option>
        <option value="week">week</option>
        <option value="month">month</option>
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

/** One entry of a filter list as edited: a condition, or a group of conditions. */
export type FilterItem = Filter | FilterGroupItem;

/** A group: any (OR) or all (AND) of its conditions must match. */
export interface FilterGroupItem {
  match: 'any' | 'all';
  filters: Filter[];
}

/** A report's filters as edited: the entries, and whether all or any of them must match. */
export interface FilterSet {
  match: 'all' | 'any';
  items: FilterItem[];
}

export const isGroupItem = (f: FilterItem): f is FilterGroupItem =>
  'filters' in f && Array.isArray(f.filters);

/** Settings kept by an earlier version (a plain list of conditions) or now (a FilterSet). */
export function filterSetOf(value: unknown): FilterSet {
  if (Array.isArray(value)) return { match: 'all', items: value as Filter[] };
  if (typeof value === 'object' && value !== null && Array.isArray((value as FilterSet).items))
    return value as FilterSet;
  return { match: 'all', items: [] };
}

/**
 * The filters as the API wants them: half-typed conditions and empty groups left out, a group of
 * one condition sent as that condition, and "any of" wrapped as `{"any": [...]}`.
 */
export function filterTree(set: FilterSet): FilterNode[] {
  const nodes: FilterNode[] = [];
  for (const item of set.items) {
    if (!isGroupItem(item)) {
      nodes.push(...completeFilters([item]));
      continue;
    }
    const leaves = completeFilters(item.filters);
    if (leaves.length === 1) nodes.push(...leaves);
    else if (leaves.length > 1)
      nodes.push(item.match === 'any' ? { any: leaves } : { all: leaves });
  }
  return set.match === 'any' && nodes.length > 1 ? [{ any: nodes }] : nodes;
}

/** The cohorts a filter may name, and the event properties seen. */
export interface FilterChoices {
  properties: string[];
  cohorts: { id: string; name: string }[];
}

const PERSON = 'person.';
const COHORT = 'cohort';

/** What a condition filters on: an event property, a person property or a cohort. */
function sourceOf(f: Filter): 'event' | 'person' | 'cohort' {
  if (f.property === COHORT) return 'cohort';
  return f.property.startsWith(PERSON) ? 'person' : 'event';
}

function ConditionRow(props: {
  id: string;
  label: string;
  filter: Filter;
  choices: FilterChoices;
  onChange: (f: Filter) => void;
  onRemove: () => void;
}) {
  const { id, filter: f, choices } = props;
  const source = sourceOf(f);
  const kind = source === 'cohort' ? 'cohort' : (OPS.find((o) => o.op === f.op)?.value ?? 'text');
  const propertyValue = source === 'event' ? f.property : source === 'person' ? PERSON : COHORT;
  const eventNames =
    source === 'event' && f.property && !choices.properties.includes(f.property)
      ? [f.property, ...choices.properties]
      : choices.properties;
  return (
    <div class="row" role="group" aria-label={props.label}>
      <span class="field">
        <label for={`${id}-p`}>Property</label>
        <select
          id={`${id}-p`}
          value={propertyValue}
          onChange={(e) => {
            const v = e.currentTarget.value;
            if (v === COHORT) props.onChange({ property: COHORT, op: 'in', value: '' });
            else if (v === PERSON) props.onChange({ property: PERSON, op: 'eq', value: '' });
            else
              props.onChange({
                ...f,
                property: v,
                op: source === 'cohort' ? 'eq' : f.op,
                value: source === 'cohort' ? '' : f.value,
              });
          }}
        >
          <optgroup label="Who">
            <option value={PERSON}>Person property…</option>
            <option value={COHORT}>Cohort</option>
          </optgroup>
          <optgroup label="Event properties">
            {eventNames.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </optgroup>
        </select>
      </span>
      {source === 'person' && (
        <span class="field">
          <label for={`${id}-person`}>Person property name</label>
          <input
            id={`${id}-person`}
            value={f.property.slice(PERSON.length)}
            placeholder="e.g. plan"
            onInput={(e) =>
              props.onChange({ ...f, property: PERSON + e.currentTarget.value.trim() })
            }
          />
        </span>
      )}
      <span class="field">
        <label for={`${id}-o`}>Operator</label>
        <select
          id={`${id}-o`}
          value={f.op}
          onChange={(e) =>
            props.onChange(
              source === 'cohort'
                ? { ...f, op: e.currentTarget.value as FilterOp }
                : withValueText(
                    { ...f, op: e.currentTarget.value as FilterOp },
                    filterValueText(f),
                  ),
            )
          }
        >
          {source === 'cohort' ? (
            <>
              <option value="in">is in</option>
              <option value="not_in">is not in</option>
            </>
          ) : (
            OPS.map((o) => (
              <option key={o.op} value={o.op}>
                {o.label}
              </option>
            ))
          )}
        </select>
      </span>
      {kind === 'cohort' ? (
        <span class="field">
          <label for={`${id}-v`}>Cohort</label>
          <select
            id={`${id}-v`}
            value={typeof f.value === 'string' ? f.value : ''}
            onChange={(e) => props.onChange({ ...f, value: e.currentTarget.value })}
          >
            <option value="">
              {choices.cohorts.length === 0 ? 'No cohort saved yet' : 'Choose a cohort'}
            </option>
            {choices.cohorts.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </span>
      ) : (
        kind !== 'none' && (
          <span class="field">
            <label for={`${id}-v`}>Value</label>
            <input
              id={`${id}-v`}
              type={kind === 'number' ? 'number' : 'text'}
              value={filterValueText(f)}
              onInput={(e) => props.onChange(withValueText(f, e.currentTarget.value))}
            />
          </span>
        )
      )}
      <button
        type="button"
        class="link"
        aria-label={`Remove ${props.label}`}
        onClick={props.onRemove}
      >
        Remove
      </button>
    </div>
  );
}

const MATCH_LABEL = { all: 'all of these', any: 'any of these' } as const;

function MatchPicker(props: {
  id: string;
  label: string;
  value: 'all' | 'any';
  onChange: (v: 'all' | 'any') => void;
}) {
  return (
    <span class="field">
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value as 'all' | 'any')}
      >
        <option value="all">{MATCH_LABEL.all} (and)</option>
        <option value="any">{MATCH_LABEL.any} (or)</option>
      </select>
    </span>
  );
}

/**
 * Filters: conditions on event properties, person properties (`person.<name>`) and cohorts, and
 * groups of conditions, where all or any must match.
 */
export function FiltersEditor(props: {
  filters: FilterSet;
  choices: FilterChoices;
  onChange: (filters: FilterSet) => void;
}) {
  const id = useId();
  const { items, match } = props.filters;
  const setItems = (next: FilterItem[]): void => props.onChange({ match, items: next });
  const setItem = (i: number, item: FilterItem): void =>
    setItems(items.map((x, j) => (j === i ? item : x)));
  const blank = (): Filter => ({
    property: props.choices.properties[0] ?? '$browser',
    op: 'eq',
    value: '',
  });
  let n = 0;
  return (
    <fieldset>
      <legend>Filters</legend>
      {items.length === 0 ? (
        <p class="hint">No filters: every event counts.</p>
      ) : (
        <MatchPicker
          id={`${id}-match`}
          label="Events must match"
          value={match}
          onChange={(m) => props.onChange({ match: m, items })}
        />
      )}
      {items.map((item, i) => {
        if (!isGroupItem(item)) {
          n += 1;
          return (
            <ConditionRow
              key={i}
              id={`${id}-${i}`}
              label={`filter ${n}`}
              filter={item}
              choices={props.choices}
              onChange={(f) => setItem(i, f)}
              onRemove={() => setItems(items.filter((_, j) => j !== i))}
            />
          );
        }
        const groupNo = items.slice(0, i + 1).filter(isGroupItem).length;
        return (
          <fieldset class="group" key={i}>
            <legend>Group {groupNo}</legend>
            <MatchPicker
              id={`${id}-${i}-match`}
              label={`Group ${groupNo} matches`}
              value={item.match}
              onChange={(m) => setItem(i, { ...item, match: m })}
            />
            {item.filters.map((f, k) => (
              <ConditionRow
                key={k}
                id={`${id}-${i}-${k}`}
                label={`group ${groupNo} filter ${k + 1}`}
                filter={f}
                choices={props.choices}
                onChange={(next) =>
                  setItem(i, { ...item, filters: item.filters.map((x, j) => (j === k ? next : x)) })
                }
                onRemove={() => {
                  const rest = item.filters.filter((_, j) => j !== k);
                  setItems(
                    rest.length === 0
                      ? items.filter((_, j) => j !== i)
                      : items.map((x, j) => (j === i ? { ...item, filters: rest } : x)),
                  );
                }}
              />
            ))}
            <button
              type="button"
              onClick={() => setItem(i, { ...item, filters: [...item.filters, blank()] })}
            >
              Add filter to group {groupNo}
            </button>
          </fieldset>
        );
      })}
      <div class="row">
        <button type="button" onClick={() => setItems([...items, blank()])}>
          Add filter
        </button>
        <button
          type="button"
          onClick={() => setItems([...items, { match: 'any', filters: [blank(), blank()] }])}
        >
          Add group
        </button>
      </div>
    </fieldset>
  );
}

/** Conditions ready to send: values typed, and a half-typed condition left out. */
export function completeFilters(filters: Filter[]): Filter[] {
  const out: Filter[] = [];
  for (const f of filters) {
    if (f.property === '' || f.property === PERSON) continue;
    if (f.property === COHORT) {
      const ids = (Array.isArray(f.value) ? f.value : [f.value]).filter(
        (v): v is string => typeof v === 'string' && v !== '',
      );
      if (ids.length > 0)
        out.push({ property: COHORT, op: f.op === 'not_in' ? 'not_in' : 'in', value: ids });
      continue;
    }
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

/** The project's saved cohorts (for cohort filters); an empty list when they cannot be read. */
export function useCohorts(ctx: ProjectContext): { id: string; name: string }[] {
  const [cohorts] = useLoad(
    () =>
      call('cohorts.list', {
        params: { projectId: ctx.project.id },
      }).then((r) => r.cohorts),
    [ctx.project.id],
  );
  return cohorts.state === 'ok' ? cohorts.value : [];
}
