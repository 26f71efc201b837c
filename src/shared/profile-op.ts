// Mixpanel's profile operations: vocabulary of the wire formats, privacy and every store.

export type ProfileOp =
  '$set' | '$set_once' | '$add' | '$append' | '$union' | '$remove' | '$unset' | '$delete';

export const PROFILE_OPS: readonly ProfileOp[] = [
  '$set',
  '$set_once',
  '$add',
  '$append',
  '$union',
  '$remove',
  '$unset',
  '$delete',
];
