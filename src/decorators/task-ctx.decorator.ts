import { TASK_PARAMS_METADATA, type InjectedTaskParam } from './metadata-keys.js';

/** Add an injected parameter to a method's metadata. */
export function markInjectedParam(
  target: object,
  propertyKey: string | symbol,
  param: InjectedTaskParam,
): void {
  const existing: InjectedTaskParam[] = Reflect.getMetadata(TASK_PARAMS_METADATA, target, propertyKey) ?? [];
  Reflect.defineMetadata(TASK_PARAMS_METADATA, [...existing, param], target, propertyKey);
}

/** Inject the `TaskExecutionContext` into this parameter; it is not part of the enqueued args. */
export function TaskCtx(): ParameterDecorator {
  return (target, propertyKey, index) => {
    if (propertyKey !== undefined) markInjectedParam(target, propertyKey, { index, kind: 'context' });
  };
}
