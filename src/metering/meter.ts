import type { Provider } from '../config/index.js';
import type { Usage } from '../providers/index.js';
import { costOf, worstCaseCost } from './cost.js';
import type { PriceSource } from './prices.js';

/** Prices calls with whatever table is in force (hot-reloaded through the PriceSource). */
export class Meter {
  readonly #source: PriceSource;
  constructor(source: PriceSource) {
    this.#source = source;
  }

  get source(): PriceSource {
    return this.#source;
  }

  /** Cost of a finished call; unknown models cost 0 and say `priced: false`. */
  cost(provider: Provider, usage: Usage, requestModel: string | undefined) {
    return costOf(this.#source.current, provider, usage, requestModel);
  }

  /** Worst-case USD for admission (LlamaParse: `model` is the tier and `input` the pages). */
  worst(provider: Provider, model: string | undefined, input: number, output: number): number {
    if (model === undefined) return 0;
    return worstCaseCost(this.#source.current, provider, model, input, output).usd;
  }
}
