// What every screen of a project receives: who is signed in, in which organisation and role, and
// the project being looked at.
import type { OrgMembership, Project, SessionInfo } from './api/types';

export interface ProjectContext {
  session: SessionInfo;
  org: OrgMembership;
  project: Project;
}

/** Roles that may save views and run ad-hoc queries (viewers see boards only). */
export const canQuery = (ctx: ProjectContext): boolean => ctx.org.role !== 'viewer';
export const canAdminister = (ctx: ProjectContext): boolean =>
  ctx.org.role === 'owner' || ctx.org.role === 'admin';
