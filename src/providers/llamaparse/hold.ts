/**
 * What a LlamaParse upload holds before LlamaCloud sees a byte: the pages of the document it
 * carries (counted from the spooled upload), capped by the form's page selection, priced at the
 * tier it asks for.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { isObject } from '../../json.js';
import type { SpooledUpload, WorstCase } from '../adapter.js';
import { countPages } from './extract/index.js';
import { parsePageList, tierFromV1Fields } from './mock/index.js';

/** The tier auto mode upgrades a triggered page to (LlamaCloud's premium mode). */
export const PREMIUM_TIER = 'agentic_plus';
const FILE_FIELDS = ['file', 'upload_file'];
const AUTO_MODE_TRIGGERS = [
  'auto_mode_trigger_on_table_in_page',
  'auto_mode_trigger_on_image_in_page',
  'auto_mode_trigger_on_text_in_page',
  'auto_mode_trigger_on_regexp_in_page',
];

type Fields = Map<string, string[]>;

interface Selection {
  /** 1-based pages listed, when a list was given. */
  targets: Set<number> | undefined;
  maxPages: number | undefined;
}

interface Form {
  fields: Fields;
  /** Pages of the file part; undefined when none came or they cannot be counted. */
  pages: number | undefined;
}

const last = (fields: Fields, name: string) => fields.get(name)?.at(-1);
const truthy = (v: string | undefined) => v !== undefined && ['true', '1'].includes(v.trim().toLowerCase());
const positive = (v: unknown) => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
};

/** Reads the spooled multipart form: its text fields, and the file part counted from a temporary file. */
async function readForm(upload: SpooledUpload): Promise<Form> {
  const fields: Fields = new Map();
  const path = join(tmpdir(), `tollgate-${randomUUID()}.document`);
  let file: { filename: string; mimeType: string; written: Promise<void> } | undefined;
  try {
    const parser = busboy({ headers: upload.headers, defParamCharset: 'utf8' });
    parser.on('field', (name, value) => fields.set(name, [...(fields.get(name) ?? []), value]));
    parser.on('file', (name, stream, info) => {
      // A form cut short fails each part's stream too: an unheard error would be uncaught.
      stream.on('error', () => {});
      if (file !== undefined || !FILE_FIELDS.includes(name)) return void stream.resume();
      const written = pipeline(stream, createWriteStream(path));
      written.catch(() => {});
      file = { filename: info.filename ?? 'file', mimeType: info.mimeType ?? '', written };
    });
    await pipeline(upload.open(), parser);
    const got = file as typeof file | undefined;
    if (got === undefined) return { fields, pages: undefined };
    await got.written;
    return { fields, pages: await countPages(path, got.filename, got.mimeType) };
  } catch {
    // A form busboy cannot read is LlamaCloud's (or the mock's) to refuse; it holds the default.
    return { fields, pages: undefined };
  } finally {
    await unlink(path).catch(() => {});
  }
}

/** The pages held: the listed pages that exist (all when none are listed), capped by max_pages. */
export function heldPages(counted: number | undefined, sel: Selection, defaultPages: number): number {
  let pages = counted ?? defaultPages;
  if (sel.targets !== undefined) {
    // Uncounted: the list itself bounds what can be parsed.
    pages = counted === undefined ? sel.targets.size : [...sel.targets].filter((n) => n >= 1 && n <= counted).length;
  }
  if (sel.maxPages !== undefined) pages = Math.min(pages, sel.maxPages);
  return Math.max(1, pages);
}

/** v2 `configuration.page_ranges` (target_pages counted from 1, and taking precedence over max_pages). */
export function v2Selection(config: Record<string, unknown>): Selection {
  const ranges = isObject(config.page_ranges) ? config.page_ranges : {};
  const list = typeof ranges.target_pages === 'string' ? ranges.target_pages.trim() : '';
  return {
    targets: list === '' ? undefined : parsePageList(list, 1),
    maxPages: positive(ranges.max_pages),
  };
}

function v1Selection(fields: Fields): Selection {
  const list = last(fields, 'target_pages')?.trim() ?? '';
  return { targets: list === '' ? undefined : parsePageList(list, 0), maxPages: positive(last(fields, 'max_pages')) };
}

/** The tier a v1 form is billed at, upgraded to premium when auto mode may trigger. */
function v1Tier(fields: Fields): string {
  const autoMode = truthy(last(fields, 'auto_mode')) && AUTO_MODE_TRIGGERS.some((t) => (last(fields, t) ?? '') !== '');
  return autoMode ? PREMIUM_TIER : tierFromV1Fields(fields);
}

/** Tiers by price, cheapest first: auto mode is held at the dearest tier a rule may apply. */
const TIER_ORDER = ['fast', 'cost_effective', 'agentic', 'agentic_plus'];

/**
 * The tier a v2 configuration is billed at: its `tier`, or the dearest `parsing_conf.tier` of its
 * auto mode rules (`processing_options.auto_mode_configuration`) when that is dearer.
 */
export function v2Tier(config: Record<string, unknown>): string {
  const base = typeof config.tier === 'string' ? config.tier : 'cost_effective';
  const options = isObject(config.processing_options) ? config.processing_options : {};
  const rules = Array.isArray(options.auto_mode_configuration) ? options.auto_mode_configuration : [];
  let tier = base;
  for (const rule of rules) {
    const conf = isObject(rule) && isObject(rule.parsing_conf) ? rule.parsing_conf : {};
    const t = conf.tier;
    if (typeof t === 'string' && TIER_ORDER.indexOf(t) > TIER_ORDER.indexOf(tier)) tier = t;
  }
  return tier;
}

function parseConfiguration(raw: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = raw === undefined ? {} : JSON.parse(raw);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** The worst case of a v1 or v2 upload, from the spooled request. */
export async function uploadWorstCase(
  operation: string,
  upload: SpooledUpload,
  defaultPages: number,
): Promise<WorstCase> {
  const { fields, pages } = await readForm(upload);
  if (operation === 'parse.v2.upload') {
    const config = parseConfiguration(last(fields, 'configuration'));
    const pagesHeld = heldPages(pages, v2Selection(config), defaultPages);
    return { inputTokens: 0, outputTokens: 0, pages: pagesHeld, model: v2Tier(config) };
  }
  return {
    inputTokens: 0,
    outputTokens: 0,
    pages: heldPages(pages, v1Selection(fields), defaultPages),
    model: v1Tier(fields),
  };
}
