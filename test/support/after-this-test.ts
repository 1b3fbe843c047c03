import type { SuiteContext, TestContext } from 'node:test';

/**
 * Runs `close` after the test a `beforeEach` hook prepared (`t` is the hook's argument), also when the test calls
 * `t.skip()`: node:test runs no `afterEach` for such a test, so a backend an `afterEach` was to close stayed open and
 * its connection kept the test file from exiting.
 */
export function afterThisTest(t: SuiteContext | TestContext, close: () => unknown): void {
  (t as TestContext).after(async () => {
    await close();
  });
}
