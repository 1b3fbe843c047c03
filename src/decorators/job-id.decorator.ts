import { markInjectedParam } from './task-ctx.decorator.js';

/** Inject the running record's id into this parameter; it is not part of the enqueued args. */
export function JobId(): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey !== undefined) markInjectedParam(target, propertyKey, { index, kind: 'jobId' });
  };
}
