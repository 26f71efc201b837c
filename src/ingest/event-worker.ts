// Worker thread of the ingest pipeline: runs the privacy stage, builds the store rows and encodes
// them as row JSON for a request's events, off the thread that serves HTTP.
import { parentPort } from 'node:worker_threads';
import { createPseudonymiser, PrivacyCounters, type PrivacyPolicy } from '../privacy/index.js';
import type { ProjectContext } from '../projects/index.js';
import { encodeEventRows } from '../store/row-json.js';
import type { EventRow } from '../store/types.js';
import { createPrivacyStage, privacyCountRows } from './privacy-stage.js';
import type { EventJob, EventJobResult, WorkerRequest } from './event-workers.js';
import type { IncomingEvent } from './records.js';
import { toEventRow } from './rows.js';

/** What the privacy stage reads of a project; the rest of ProjectContext stays on the main thread. */
type WorkerProject = Pick<ProjectContext, 'policy' | 'pseudonymise' | 'groupKeys'> & {
  project: { id: string };
};

const projects = new Map<number, WorkerProject>();
const privacy = createPrivacyStage();

function run(job: EventJob): EventJobResult {
  const project = projects.get(job.project);
  if (!project) throw new Error('unknown project reference');
  // Group keys only grow (seen on group profiles): catch up when the main thread knows more.
  if (job.groupKeys.length !== project.groupKeys.size) {
    for (const key of job.groupKeys) project.groupKeys.add(key);
  }
  const counters = new PrivacyCounters();
  const rows: EventRow[] = [];
  const links: string[] = [];
  const linkTimes: number[] = [];
  for (let i = 0; i < job.events.length; i++) {
    // The privacy stage reads only the fields a WorkerEvent has.
    const clean = privacy.event(
      project as unknown as ProjectContext,
      job.events[i] as unknown as IncomingEvent,
      job.enriched[i] as EventJob['enriched'][number],
      counters,
    );
    const row = toEventRow(project.project.id, clean, job.receivedAtMs);
    rows.push(row);
    for (const link of clean.identityLinks) {
      links.push(link.aliasId, link.canonicalId);
      linkTimes.push(row.timeMs);
    }
  }
  const encoded = encodeEventRows(rows);
  // Transferred, not copied: it must own its memory (small Buffers share a pool).
  const lines =
    encoded.lines.byteOffset === 0 && encoded.lines.byteLength === encoded.lines.buffer.byteLength
      ? encoded.lines
      : new Uint8Array(encoded.lines);
  return {
    id: job.id,
    lines,
    count: encoded.count,
    links,
    linkTimes,
    privacyCounts: privacyCountRows(project.project.id, counters, job.receivedAtMs),
  };
}

parentPort?.on('message', (message: WorkerRequest) => {
  if (message.type === 'project') {
    projects.set(message.ref, {
      project: { id: message.projectId },
      policy: message.policy as PrivacyPolicy,
      pseudonymise: createPseudonymiser(Buffer.from(message.pseudonymKey)),
      groupKeys: new Set(message.groupKeys),
    });
    return;
  }
  try {
    const result = run(message);
    parentPort?.postMessage(result, [result.lines.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort?.postMessage({
      id: message.id,
      error: error instanceof Error ? error.name : 'Error',
    });
  }
});
