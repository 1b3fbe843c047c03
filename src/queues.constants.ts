/** DI token of the resolved `QueuesModuleOptions`. */
export const QUEUES_MODULE_OPTIONS = Symbol.for('nestjs-queues:module-options');
