/** LlamaParse test helpers: PDFs written by pdf-lib, upload forms, the LlamaParse budget from /admin/costs. */
import { PDFDocument } from 'pdf-lib';

export const ADMIN = 'admin-token-parse-holds-0123456789';
export const LLX = 'llx-test-parse-holds-0123456789';

/** An n-page PDF written by pdf-lib. */
export async function pdfOf(pages: number): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) doc.addPage([612, 792]).drawText(`Page ${i + 1}`, { x: 72, y: 720 });
  return doc.save();
}

export function uploadForm(pdf: Uint8Array, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('file', new Blob([Buffer.from(pdf)], { type: 'application/pdf' }), 'doc.pdf');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

export interface BudgetView {
  scope: string;
  window: string;
  spent_usd: number;
  held_usd: number;
}

export async function llamaBudget(url: string): Promise<BudgetView> {
  const res = await fetch(`${url}/admin/costs?window=day`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const body = (await res.json()) as { budgets: BudgetView[] };
  return body.budgets.find((b) => b.scope === 'llamaparse' && (b.window === 'day' || b.window === 'daily'))!;
}

export const PARSE_VARS = {
  LLAMAPARSE_MODE: 'real',
  LLAMA_CLOUD_API_KEY: LLX,
  LLAMAPARSE_BUDGET_DAILY_USD: '0.02',
  ADMIN_TOKEN: ADMIN,
  HEALTH_CHECK_INTERVAL_MS: '600000',
};
