import type { CommandModule } from 'yargs';
import type { Decision } from '../renew/renew.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, runtimeOf, writeJson } from './run.js';

interface Args extends GlobalArgs {
  force: boolean;
  needed: boolean;
  json: boolean;
}

/** `renew --needed` exits 255 on error: systemd's ExecCondition= treats 1..254 as "skip", 255 as a failure. */
const NEEDED_ERROR = 255;

export function renewCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'renew',
    describe: 'renew the identity when due (weekly by default; earlier when ARI or the lifetime rule says so)',
    builder: (y) =>
      y
        .option('force', { type: 'boolean', default: false, describe: 'renew now, whatever the decision' })
        .option('needed', { type: 'boolean', default: false, describe: 'decide only: exit 0 when due, 1 when not, 255 on error (systemd ExecCondition=)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 renew', 'renew if due; exit 0 whether renewed or not due')
        .example('$0 renew --needed', 'for ExecCondition=: 0 due, 1 not due'),
    handler: async (a) => {
      const args = a as unknown as Args;
      if (args.needed && args.force) {
        deps.io.stderr.write('iamra-agent: --needed decides only; it cannot be combined with --force\n');
        setExit(NEEDED_ERROR);
        return;
      }
      if (args.needed) {
        setExit(
          await runCommand(
            deps,
            args,
            async (logger) => {
              const cfg = await deps.loadConfig(args);
              const decision = await (await import('../compose/renew.js')).renewalDecision(cfg, runtimeOf(deps, logger));
              if (args.json) writeJson(deps.io.stdout, decision);
              else deps.io.stdout.write(decisionLine(decision) + '\n');
              return decision.due ? 0 : 1;
            },
            NEEDED_ERROR,
          ),
        );
        return;
      }
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          // the renewal machinery (ACME, Route 53 SDK, x509) loads on use, so every command starts fast
          const [{ renewIdentity }, { hookWarnings }] = await Promise.all([import('../compose/renew.js'), import('../renew/hooks.js')]);
          const { result: r, hooks } = await renewIdentity(cfg, runtimeOf(deps, logger), { force: args.force });
          if (args.json) writeJson(deps.io.stdout, { ...r, hooks });
          else if (r.action === 'renewed') {
            const why = r.forced ? 'forced' : r.decision.reason;
            deps.io.stdout.write(
              `renewed: version ${r.version}, serial ${r.serial}, expires ${r.notAfter} (${why}${r.replaces ? `, replaces ${r.replaces}` : ''}; ${r.durationMs} ms)\n`,
            );
          } else deps.io.stdout.write(decisionLine(r.decision) + '\n');
          for (const w of hookWarnings(hooks)) (args.json ? deps.io.stderr : deps.io.stdout).write(w + '\n');
          return 0;
        }),
      );
    },
  };
}

function decisionLine(d: Decision): string {
  if (d.due) return `due: ${d.reason}${d.renewAt ? ` (renewal point ${d.renewAt})` : ''}`;
  const ari = d.ari ? `; ARI window ${d.ari.windowStart} – ${d.ari.windowEnd}` : '';
  return `not due: renew at ${d.renewAt} (${d.reason}${ari}); next check ${d.nextCheck ?? d.renewAt}`;
}
