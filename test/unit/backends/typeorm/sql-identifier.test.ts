import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueConfigurationError } from '../../../../src/errors/queue-configuration.error.js';
import { quoteIdentifier, validateTableName } from '../../../../src/backends/typeorm/sql-identifier.js';

describe('table names', () => {
  test('reserved words are valid names, quoted per dialect (PostgreSQL in lower case, as unquoted names fold)', () => {
    for (const name of ['select', 'order', 'group', 'user', 'MyQueue', 'app.select'])
      assert.equal(validateTableName(name), name);
    assert.equal(quoteIdentifier('select', 'postgres'), '"select"');
    assert.equal(quoteIdentifier('MyQueue', 'postgres'), '"myqueue"');
    assert.equal(quoteIdentifier('app.Order', 'postgres'), '"app"."order"');
    assert.equal(quoteIdentifier('order', 'mysql'), '`order`');
    assert.equal(quoteIdentifier('app.order', 'mysql'), '`app`.`order`');
    assert.equal(quoteIdentifier('Order', 'sqlite'), '"Order"');
  });

  test('anything but letters, digits and _ is still refused before it reaches SQL', () => {
    for (const name of ['a"b', 'a`b', 'a b', '1abc', 'a.b.c', '', 'x'.repeat(56)])
      assert.throws(() => validateTableName(name), QueueConfigurationError, name);
  });
});
