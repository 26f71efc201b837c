// The OpenAPI 3.1 document of the API, built from the same route declarations the server
// registers (so it cannot drift from what runs), with each route's permission and step-up.
import { z } from 'zod';
import { STEP_UP_ACTIONS, ROLE_ACTIONS, SCOPE_ACTIONS, KEY_SCOPES } from '../../auth/index.js';
import { ERROR_CODES } from '../../shared/errors.js';
import type { ApiRoute } from './registry.js';

const toOpenApiPath = (url: string): string => url.replace(/:([A-Za-z]+)/g, '{$1}');

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType): JsonSchema {
  try {
    return z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' });
  } catch {
    return { type: 'object' };
  }
}

/** `#/$defs/X` → `#/components/schemas/X`, everywhere in `value`. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof v === 'string'
        ? v.replace(/^#\/\$defs\//, '#/components/schemas/')
        : rebase(v);
  }
  return out;
}

/**
 * A response schema (as answered: defaults filled in, no keys beyond those declared). Schemas
 * named with `.meta({ id })` (src/http/api/responses.ts) go to `components.schemas` once, so that
 * generated clients get one type per name.
 */
function responseSchemaOf(schema: z.ZodType, components: Record<string, JsonSchema>): JsonSchema {
  const json = z.toJSONSchema(schema, { unrepresentable: 'throw', io: 'output' });
  const { $schema: _, $defs, ...rest } = json as JsonSchema & { $defs?: Record<string, unknown> };
  for (const [name, def] of Object.entries($defs ?? {})) {
    const rebased = rebase(def) as JsonSchema;
    const known = components[name];
    if (known && JSON.stringify(known) !== JSON.stringify(rebased)) {
      throw new Error(`two response schemas are named ${name}`);
    }
    components[name] = rebased;
  }
  // A named root comes back as a reference to its own definition.
  return rebase(rest) as JsonSchema;
}

/** The error envelope every route answers with on failure (shared/errors.ts, http/responses.ts). */
const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'message'],
            additionalProperties: false,
            properties: { path: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
    },
  },
};

const errorResponse = {
  description: 'An error: `code` is one of the registered error codes, `message` says why.',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

/** Builds the document for `routes`. */
export function openApiDocument(routes: readonly ApiRoute<unknown>[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, JsonSchema> = { Error: ERROR_SCHEMA };
  for (const route of routes) {
    const path = toOpenApiPath(route.url);
    const parameters = [...route.url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (route.querySchema) {
      const shape = (route.querySchema as z.ZodObject).shape as
        Record<string, z.ZodType> | undefined;
      for (const [name, s] of Object.entries(shape ?? {})) {
        parameters.push({
          name,
          in: 'query',
          required: !s.safeParse(undefined).success,
          schema: schemaOf(s) as { type: string },
        });
      }
    }
    const security =
      route.auth === 'none'
        ? []
        : route.auth === 'optional-session'
          ? [{}, { session: [] }]
          : route.auth === 'session'
            ? [{ session: [] }]
            : [{ session: [] }, { secretKey: [] }];
    const roles = route.action ? ROLE_ACTIONS[route.action] : null;
    const scopes = route.action
      ? KEY_SCOPES.filter((s) => SCOPE_ACTIONS[s].includes(route.action as never))
      : [];
    const success = route.success ?? { status: 200, description: 'OK' };
    const content: Record<string, { schema: JsonSchema }> = {};
    if (route.response) {
      content['application/json'] = { schema: responseSchemaOf(route.response, schemas) };
    }
    for (const type of route.textAnswers ?? []) content[type] = { schema: { type: 'string' } };
    const operation: Record<string, unknown> = {
      operationId: route.id,
      summary: route.summary,
      tags: [route.tag],
      security,
      parameters,
      responses: {
        [String(success.status)]: {
          description: success.description,
          ...(Object.keys(content).length > 0 ? { content } : {}),
        },
        default: errorResponse,
      },
      'x-sillage-action': route.action ?? null,
      'x-sillage-roles': roles,
      'x-sillage-key-scopes': route.auth === 'session-or-key' ? scopes : [],
      'x-sillage-step-up':
        route.stepUp === true || (route.action !== undefined && STEP_UP_ACTIONS.has(route.action)),
    };
    const body = route.body ?? route.bodyDoc;
    if (body) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: schemaOf(body) } },
      };
    }
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sillage API',
      version,
      description:
        'Self-hosted product analytics. People sign in with a password and a second factor ' +
        '(passkeys first) and get a session cookie; changes made with the cookie need the ' +
        'X-CSRF-Token header. Machines use secret keys (Authorization: Bearer sil_sk_…) with ' +
        'scopes. Sensitive actions (x-sillage-step-up) need a passkey check in the last 5 minutes.',
    },
    components: {
      schemas,
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: '__Host-sillage_session' },
        secretKey: { type: 'http', scheme: 'bearer', description: 'A secret key: sil_sk_…' },
      },
    },
    paths,
  };
}
