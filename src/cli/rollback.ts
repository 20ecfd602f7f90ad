import type { CommandModule } from 'yargs';
import { IdentityStore } from '../store/index.js';
import { durationMs } from '../config/schema.js';
import type { CliDeps, GlobalArgs } from './context.js';
import { runCommand, writeJson } from './run.js';

interface Args extends GlobalArgs {
  json: boolean;
}

export function rollbackCommand(deps: CliDeps, setExit: (c: number) => void): CommandModule {
  return {
    command: 'rollback',
    describe: 'switch the live identity back to the previous version',
    builder: (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .example('$0 rollback', 'after a bad renewal: the version before the live one goes live again'),
    handler: async (a) => {
      const args = a as unknown as Args;
      setExit(
        await runCommand(deps, args, async (logger) => {
          const cfg = await deps.loadConfig(args);
          const store = await IdentityStore.open(cfg.state.dir, { clock: deps.clock, logger });
          // under the run lock, so a rollback never lands in the middle of a renewal
          const lock = await store.lock({ waitMs: durationMs(cfg.state.lockTimeout) });
          try {
            const from = await store.liveVersion();
            const to = await store.rollback();
            const id = await store.read(to.version);
            const r = { from, to: to.version, serial: id.serial, notAfter: id.notAfter.toISOString() };
            if (args.json) writeJson(deps.io.stdout, r);
            else deps.io.stdout.write(`rolled back: version ${r.from} → ${r.to} is live (serial ${r.serial}, expires ${r.notAfter})\n`);
            return 0;
          } finally {
            await lock.release();
          }
        }),
      );
    },
  };
}
