// The privacy module's public entry: master key, keyring, pseudonyms, PII scanner, URLs, policy, vault, sanitizers.
export {
  loadMasterKey,
  defaultKeyPath,
  masterKeyCheckValue,
  verifyMasterKey,
  KEY_BYTES,
  type MasterKeyOptions,
  type LoadedMasterKey,
} from './master-key.js';
export {
  wrapKey,
  unwrapKey,
  generateProjectKeys,
  rotateProjectKey,
  ProjectKeyring,
  KEY_PURPOSES,
  type KeyPurpose,
  type KeyContext,
  type ProjectKey,
} from './keyring.js';
export {
  createPseudonymiser,
  isPseudonym,
  pseudonymsFor,
  type Pseudonymiser,
  type PseudonymiserOptions,
  type PseudonymMatch,
} from './pseudonymise.js';
export {
  scanString,
  scanValue,
  defineEntry,
  luhnValid,
  ibanChecksumValid,
  PII_KINDS,
  PLACEHOLDERS,
  type PiiKind,
  type RedactionKind,
  type PiiHits,
  type ScanResult,
  type ScanValueResult,
} from './scanner.js';
export {
  cleanUrl,
  cleanUrlPath,
  referringDomain,
  isClickIdKey,
  CLICK_ID_PARAMS,
  type UrlPolicy,
} from './url.js';
export {
  privacyPolicySchema,
  parsePrivacyPolicy,
  parsePolicy,
  DEFAULT_POLICY,
  DEFAULT_GROUP_KEYS,
  PROFILE_PII_KEYS,
  GEO_GRANULARITIES,
  PROPERTY_ACTIONS,
  isProfilePiiKey,
  isLockedProperty,
  classifyProperty,
  classifyNestedKey,
  applyGeoGranularity,
  describeLoosenings,
  type PrivacyPolicy,
  type GeoGranularity,
  type GeoFields,
  type PropertyAction,
  type PropertyTreatment,
  type PropertyScope,
  type DropReason,
} from './policy.js';
export {
  generateSubjectKey,
  sealValue,
  openValue,
  sealProperties,
  openProperties,
  wrapSubjectKey,
  unwrapSubjectKey,
  type SubjectKeyContext,
} from './vault.js';
export {
  sanitizeEventProperties,
  sanitizeProfileProperties,
  sanitizeProfileUpdate,
  REDACTED,
  type SanitizeContext,
  type SanitizedProfile,
} from './sanitize.js';
export {
  PrivacyCounters,
  OTHER_PROPERTY,
  type PrivacyReport,
  type PrivacyCountEntry,
} from './counters.js';
