/**
 * Metering: the price table and the cost of a call. The ledger and the `tollgate costs`
 * report live elsewhere (`state/`, `metering/cli.ts`); this is pure pricing.
 */

export { costsCommand } from './cli.js';
export { type Cost, costOf, worstCaseCost } from './cost.js';
export { Meter } from './meter.js';
export {
  type LlamaParsePrices,
  type LlamaParseTierPrice,
  type LoadPriceTableOptions,
  loadPriceTable,
  type OpenAIPrice,
  type PriceReload,
  PriceSource,
  Prices,
  type PriceTable,
  PriceTableError,
  priceTableSchema,
  type TokenPrice,
} from './prices.js';
export {
  budgetView,
  costReport,
  formatReport,
  GROUP_KEYS,
  type GroupKey,
  REPORT_WINDOWS,
  type ReportWindow,
} from './report.js';
export { spoolCommand } from './spool-cli.js';
