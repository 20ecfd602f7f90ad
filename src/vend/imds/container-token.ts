import { promises as fsp } from 'node:fs';
import { AgentError, formatError } from '../../core/errors.js';

/** Reads the container authorization token file: one line, surrounding whitespace (a trailing newline) dropped. */
export async function readContainerToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError({
      code: 'VEND_CONTAINER_TOKEN_FILE',
      component: 'vend',
      message: `cannot read container token file ${file}: ${(e as NodeJS.ErrnoException).code ?? formatError(e)}`,
      hint: 'create it with a random single-line token, mode 0600',
      cause: e,
    });
  }
  const token = text.trim();
  if (token === '' || /[\r\n]/.test(token)) {
    throw new AgentError({
      code: 'VEND_BAD_CONTAINER_TOKEN',
      component: 'vend',
      message: `container token file ${file} is empty or has several lines`,
      hint: 'write a single-line token, e.g. openssl rand -hex 32',
    });
  }
  return token;
}
