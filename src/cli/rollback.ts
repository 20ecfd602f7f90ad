import type { CommandModule } from 'yargs';
import { durationMs } from '../config/schema.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  json: boolean;
}

export function rollbackCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'rollback',
    describe: 'switch the live identity back to the previous version (hooks.afterRenew run for it, as for a renewal)',
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 rollback', 'after a bad renewal: the version before the live one goes live again'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          // features load on use, so every command starts fast
          const [{ IdentityStore, StateFile }, { hookWarnings, runHooksForVersion }] = await Promise.all([
            import('../store/index.js'),
            import('../renew/hooks.js'),
          ]);
          const store = await IdentityStore.open(cfg.state.dir, { clock: deps.clock, logger });
          // under the run lock, so a rollback never lands in the middle of a renewal
          const lock = await store.lock({ waitMs: durationMs(cfg.state.lockTimeout) });
          let r: { from: string | undefined; to: string; serial: string; notAfter: string };
          try {
            const from = await store.liveVersion();
            const to = await store.rollback();
            const id = await store.read(to.version);
            r = { from, to: to.version, serial: id.serial, notAfter: id.notAfter.toISOString() };
          } finally {
            await lock.release();
          }
          // consumers that copied or reloaded the files must follow live back, as they followed it forward
          const state = new StateFile(cfg.state.dir, { clock: deps.clock, logger });
          const hooks = await runHooksForVersion(
            { clock: deps.clock, logger, state, env: deps.io.env, store },
            { commands: cfg.hooks.afterRenew, timeoutMs: durationMs(cfg.hooks.timeout), env: cfg.hooks.env },
            r.to,
          );
          if (args.json) writeJson(deps.io.stdout, { ...r, hooks });
          else deps.io.stdout.write(`rolled back: version ${r.from} → ${r.to} is live (serial ${r.serial}, expires ${r.notAfter})\n`);
          for (const w of hookWarnings(hooks)) (args.json ? deps.io.stderr : deps.io.stdout).write(w + '\n');
          return 0;
        }),
      );
    },
  };
}
