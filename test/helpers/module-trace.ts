/**
 * `node --import <dist>/test/helpers/module-trace.js ...`: appends the URL of every module the process loads through
 * the module loader to the file $IAMRA_TEST_MODULE_TRACE, one per line, so a test can show what a process keeps
 * resident. A CommonJS package's inner require() calls are not seen, its entry module is.
 */
import { register } from 'node:module';

register(new URL('./module-trace-hooks.js', import.meta.url));
