// Public entry of the audit log: the port, the chain and its verification, detection and reports.
export * from './types.js';
export { actingAs, actingAsSystem, actingPrincipal } from './acting.js';
export { AuditLog, deriveAuditKeys, type AuditKeys, type AuditLogOptions } from './audit-log.js';
export { CheckpointSigner, entryHash, GENESIS_HASH } from './chain.js';
export { followAuditLog, type AuditFollower } from './follower.js';
export { AUDIT_JOURNAL_DIR, JournaledAuditStore, type JournalOptions } from './journal.js';
export {
  parseCheckpointCopies,
  verifyAuditLog,
  type OutsideCheckpoint,
  type VerifyReport,
} from './verify.js';
export { queryAuditSink, queryTouches } from './query-sink.js';
export { entryView, readAuditLog, type AuditEntryView, type AuditViewFilter } from './viewer.js';
export {
  packSubjects,
  unpackSubjects,
  pseudonymsIn,
  isPseudonym,
  subjectsOfEventProperties,
} from './subjects.js';
export { coarseNetwork, networksOfCidr } from './network.js';
export { auditedAccountStore } from './audited-account-store.js';
export { Detector, DEFAULT_DETECTION, type DetectionSettings, type Trigger } from './detector.js';
export { AlertResponder, liftSuspension, postSigned, pushCheckpoint } from './responder.js';
export {
  buildIncidentReport,
  incidentHtml,
  incidentMarkdown,
  type IncidentDirectory,
  type IncidentReport,
  type IncidentScope,
} from './incident.js';
