/** Which pages a job parses: `target_pages` lists and `max_pages`. */
import type { ExtractedPage } from '../extract/index.js';

export interface PageSelection {
  /** 1-based page numbers to keep; undefined keeps every page. */
  targetPages?: Set<number>;
  maxPages?: number;
}

/**
 * Parses "0,2-4" style page lists. v1 `target_pages` counts from 0, v2 `target_pages` from 1;
 * the result is always 1-based. Returns undefined for an unreadable list.
 */
export function parsePageList(list: string, base: 0 | 1): Set<number> | undefined {
  const pages = new Set<number>();
  for (const part of list.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!range) return undefined;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from || to - from > 100_000) return undefined;
    for (let n = from; n <= to; n++) pages.add(n - base + 1);
  }
  return pages;
}

export function selectPages(pages: ExtractedPage[], { targetPages, maxPages }: PageSelection): ExtractedPage[] {
  const chosen = targetPages ? pages.filter((page) => targetPages.has(page.page)) : pages;
  return maxPages !== undefined && maxPages > 0 ? chosen.slice(0, maxPages) : chosen;
}
