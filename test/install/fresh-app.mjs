// A user's app, written in plain JavaScript against the installed package (no decorators compiled: the
// decorators are applied by hand). `node fresh-app.mjs <backend>` boots QueuesModule on that backend, enqueues a
// task through a user service that injects QueueService by constructor, waits for its outcome and closes.
// Prints one JSON line: { backend, status, result }.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { QueueService, QueuesModule, Task } from 'nestjs-queues';

const [backendName, unique] = process.argv.slice(2);
const backends = {
  memory: () => 'memory',
  sqlite: () => ({
    type: 'typeorm',
    options: { type: 'better-sqlite3', database: `${process.cwd()}/q.sqlite` },
  }),
  postgres: () => ({
    type: 'typeorm',
    options: { type: 'postgres', url: process.env.PG_URL },
    tableName: `fresh_${unique}`,
  }),
  mysql: () => ({
    type: 'typeorm',
    options: { type: 'mysql', url: process.env.MYSQL_URL },
    tableName: `fresh_${unique}`,
  }),
  redis: () => ({ type: 'redis', url: process.env.REDIS_URL, keyPrefix: `fresh_${unique}` }),
};

class Greeter {
  async hello(name) {
    return `hello ${name}`;
  }
}
Injectable()(Greeter);
Task('greet.hello')(Greeter.prototype, 'hello', Object.getOwnPropertyDescriptor(Greeter.prototype, 'hello'));

// A user's provider that injects the documented service by its type.
class Greetings {
  constructor(queues) {
    this.queues = queues;
  }
  async greet(name) {
    const record = await this.queues.enqueue('greet.hello', [name]);
    return this.queues.waitFor(record.id, { timeout: 10_000 });
  }
}
Injectable()(Greetings);
Reflect.defineMetadata('design:paramtypes', [QueueService], Greetings);

class AppModule {}
Module({
  imports: [QueuesModule.forRoot({ queueBackend: backends[backendName](), worker: { pollInterval: 20 } })],
  providers: [Greeter, Greetings],
})(AppModule);

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
const done = await app.get(Greetings).greet('user');
await app.close();
console.log(JSON.stringify({ backend: backendName, status: done.status, result: done.result }));
