import type { CommandModule } from 'yargs';
import type { CliDeps } from './context.js';
import { bootstrapCommand } from './bootstrap.js';
import { configCommand } from './config.js';
import { installUnitsCommand } from './install-units.js';
import { policyCommand } from './policy.js';
import { sandboxCommand } from './sandbox.js';
import { statusCommand } from './status.js';
import { renewCommand } from './renew.js';
import { rollbackCommand } from './rollback.js';
import { credentialProcessCommand } from './credential-process.js';
import { serveCommand } from './serve.js';
import { updateCommand } from './update.js';

/** One module per command; each builds its yargs definition from the shared deps. */
export function commands(deps: CliDeps, setExit: (code: number) => void): CommandModule[] {
  return [
    bootstrapCommand(deps, setExit),
    configCommand(deps, setExit),
    installUnitsCommand(deps, setExit),
    policyCommand(deps, setExit),
    sandboxCommand(deps, setExit),
    statusCommand(deps, setExit),
    renewCommand(deps, setExit),
    rollbackCommand(deps, setExit),
    credentialProcessCommand(deps, setExit),
    serveCommand(deps, setExit),
    updateCommand(deps, setExit),
  ];
}
