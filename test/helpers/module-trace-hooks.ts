/** The loader hooks of module-trace.ts (they run on the loader's own thread). */
import { appendFileSync } from 'node:fs';

type NextLoad = (url: string, context: unknown) => Promise<unknown>;

export async function load(url: string, context: unknown, next: NextLoad): Promise<unknown> {
  const file = process.env.IAMRA_TEST_MODULE_TRACE;
  if (file && !url.startsWith('node:')) appendFileSync(file, `${url}\n`);
  return next(url, context);
}
