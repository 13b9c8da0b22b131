export { decodeValue } from './decode.js';
export {
  DEFAULT_HEADERS,
  DEFAULT_MAX_INSPECT_BYTES,
  DEFAULT_THRESHOLD,
  DetectionEngine,
  type Exclusion,
  type InspectOptions,
  inspectRequest,
} from './engine.js';
export { ATTACK_CLASSES, type AttackClass, type Finding, type InspectReport, type InspectRequest } from './types.js';
