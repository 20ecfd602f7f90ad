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
import { fingerprintCommand, totpCommand } from './envsense.js';
import { auditCommand } from './audit.js';
import { doctorCommand } from './doctor.js';
import { readCertificateDataCommand, signStringCommand } from './helper-diagnostics.js';

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
    fingerprintCommand(deps, setExit),
    totpCommand(deps, setExit),
    auditCommand(deps, setExit),
    doctorCommand(deps, setExit),
    readCertificateDataCommand(deps, setExit),
    signStringCommand(deps, setExit),
  ];
}

/**
 * The exit code of a usage error, in each command's own convention: Nagios UNKNOWN for status, 2 (error) for
 * audit, and 255 for renew --needed, whose 1 would tell systemd's ExecCondition= "not due, skip" instead of
 * "broken". The command is the first word of the line that names one.
 */
const USAGE_EXIT: Record<string, (argv: readonly string[]) => number> = {
  status: () => 3,
  audit: () => 2,
  renew: (argv) => (argv.includes('--needed') ? 255 : 1),
};

export function usageExitCode(argv: readonly string[], registered: readonly CommandModule[]): { name?: string; code: number } {
  const names = new Set(registered.map((c) => String(c.command).split(' ')[0]));
  const name = argv.find((a) => names.has(a));
  if (name === undefined) return { code: 1 };
  return { name, code: USAGE_EXIT[name]?.(argv) ?? 1 };
}
