// Authentication of API requests, in one place so that accounts and scoped keys can grow here.
// Today: the project's secret key as a Bearer token (the public ingest token can read nothing).
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ProjectDirectory } from '../projects/index.js';
import { AppError } from '../shared/errors.js';

/** Who is asking: recorded with every read and every change. Never holds the secret itself. */
export interface Principal {
  kind: 'project-secret';
  projectId: string;
  /** Stable, non-secret label for records: a short hash of the key. */
  actor: string;
}

/** Resolves the Bearer secret and checks it grants access to `projectId`. */
export async function authenticateProject(
  request: FastifyRequest,
  projects: ProjectDirectory,
  projectId: string,
): Promise<Principal> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match?.[1])
    throw new AppError(
      'AUTH_REQUIRED',
      'send the project secret as "Authorization: Bearer <secret>"',
    );
  const secret = match[1];
  const context = await projects.bySecret(secret);
  if (!context) throw new AppError('AUTH_REQUIRED', 'invalid secret key');
  if (context.project.id !== projectId) {
    throw new AppError('AUTH_FORBIDDEN', 'this key does not grant access to that project');
  }
  const label = createHash('sha256').update(secret).digest('hex').slice(0, 12);
  return { kind: 'project-secret', projectId, actor: `secret-key:${label}` };
}
