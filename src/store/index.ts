export { IdentityStore, formatVersion } from './store.js';
export type {
  Identity,
  IdentityMeta,
  KeyRefRecord,
  MetaInput,
  StageMaterial,
  StagedVersion,
  StoreDeps,
  StoreOptions,
  VersionFiles,
  VersionInfo,
} from './store.js';
export { StateFile, bump, emptyState } from './state.js';
export type { AgentState, PendingTxt, StateDeps } from './state.js';
