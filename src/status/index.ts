/** `iamra-agent status`: facts (gather) → verdicts (checks) → text, JSON (schema) and Prometheus (report). */
export {
  CHECK_NAMES,
  EXIT_CODES,
  evaluate,
  human,
  worst,
  type Check,
  type CheckCode,
  type CheckName,
  type CheckStatus,
  type StatusInput,
  type StatusReport,
} from './checks.js';
export { configFacts, configFailure, gatherStatus, type GatherPorts } from './gather.js';
export { renderPrometheus, renderText, toStatusJson } from './report.js';
export { STATUS_SCHEMA_VERSION, statusJsonSchema, statusJsonSchemaDocument, type StatusJson } from './schema.js';
