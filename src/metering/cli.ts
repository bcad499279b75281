/** `tollgate costs`: the spend report. The ledger arrives with the state stores. */
export async function costsCommand(_options: { window: string; json: boolean }): Promise<number> {
  process.stderr.write('tollgate: the cost ledger is not available in this version\n');
  return 1;
}
