// The image inventory: what is installed in an image, read from its layers.
export { inventoryImage, type LayerSource, type LayerSummary, type InventoryResult } from './inventory.js';
export { DEFAULT_BUDGET, type InventoryBudget } from './budget.js';
export { InventoryError, type InventoryErrorCode } from './errors.js';
export { normalizePath, whiteoutOf } from './paths.js';
// Matching must spell PyPI names the way the inventory does (PEP 503).
export { normalizePypiName } from './analyzers/python.js';
