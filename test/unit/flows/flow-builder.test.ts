import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FlowValidationError } from '../../../src/errors/flow-validation.error.js';
import { buildFlow } from '../../../src/flows/flow-builder.js';
import { MAX_FLOW_DEPTH, MAX_FLOW_NODES, type FlowNode } from '../../../src/flows/flow.types.js';
import { newTaskRecord } from '../../../src/models/new-record.js';

const make = (task: string, args: unknown[], options: { key?: string }) =>
  newTaskRecord({ taskName: task, args, key: options.key ?? null });

/** A chain of `depth` levels below the root. */
function nested(depth: number): FlowNode {
  let node: FlowNode = { task: 'leaf' };
  for (let i = 0; i < depth; i++) node = { task: 'parent', children: [node] };
  return node;
}

describe('buildFlow', () => {
  test('parents first, waiting with their child count; links and paths in metadata.flow', () => {
    const { nodes } = buildFlow(
      {
        task: 'root',
        children: [
          { task: 'a', children: [{ task: 'a0' }] },
          { task: 'b', onFailure: 'ignore' },
        ],
      },
      make,
    );
    assert.deepEqual(
      nodes.map((n) => [n.record.taskName, n.record.status, n.children, n.position]),
      [
        ['root', 'waiting', 2, 0],
        ['a', 'waiting', 1, 0],
        ['a0', 'pending', 0, 0],
        ['b', 'pending', 0, 1],
      ],
    );
    const root = nodes[0]!.record.id;
    assert.deepEqual(nodes[2]!.record.metadata['flow'], {
      root,
      parent: nodes[1]!.record.id,
      path: 'children[0].children[0]',
    });
    assert.deepEqual(nodes[3]!.record.metadata['flow'], {
      root,
      parent: root,
      onFailure: 'ignore',
      path: 'children[1]',
    });
    assert.equal(nodes[3]!.record.parentId, root);
    assert.equal(nodes[0]!.record.parentId, null);
  });

  test(`at most ${MAX_FLOW_NODES} nodes and ${MAX_FLOW_DEPTH} levels; the first node past a bound is named`, () => {
    const children = Array.from({ length: MAX_FLOW_NODES }, () => ({ task: 'leaf' }));
    assert.throws(
      () => buildFlow({ task: 'root', children }, make),
      (error: unknown) =>
        error instanceof FlowValidationError &&
        error.path === `children[${MAX_FLOW_NODES - 1}]` &&
        /at most 20000 nodes/.test(error.message),
    );
    assert.equal(buildFlow({ task: 'root', children: children.slice(1) }, make).nodes.length, MAX_FLOW_NODES);
    assert.equal(buildFlow(nested(MAX_FLOW_DEPTH), make).nodes.length, MAX_FLOW_DEPTH + 1);
    assert.throws(
      () => buildFlow(nested(MAX_FLOW_DEPTH + 1), make),
      (error: unknown) =>
        error instanceof FlowValidationError && /nests at most 32 levels/.test(error.message),
    );
  });

  test('a hole in a children list is refused by path (its parent would count it and wait for good)', () => {
    // eslint-disable-next-line no-sparse-arrays
    const holey = [, { task: 'c' }];
    for (const [children, path] of [
      [holey, 'children[0]'],
      [new Array(3), 'children[0]'],
      [[{ task: 'c', children: [{ task: 'd' }, , { task: 'e' }] }], 'children[0].children[1]'],
    ] as Array<[unknown[], string]>)
      assert.throws(
        () => buildFlow({ task: 'root', children } as FlowNode, make),
        (error: unknown) =>
          error instanceof FlowValidationError &&
          error.path === path &&
          /must be an object/.test(error.message),
      );
  });

  test('a sparse children list of a billion places is refused at once by the node bound', () => {
    const started = Date.now();
    assert.throws(
      () => buildFlow({ task: 'root', children: new Array(1e9) } as FlowNode, make),
      (error: unknown) =>
        error instanceof FlowValidationError &&
        error.path === `children[${MAX_FLOW_NODES - 1}]` &&
        /at most 20000 nodes/.test(error.message),
    );
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
  });

  test('a non-object node, a bad children list and reserved metadata are refused by path', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'root'],
      [{ task: 'root', children: [42] }, 'children[0]'],
      [{ task: 'root', children: 'x' }, 'root'],
      [{ task: 'root', children: [{ task: 'c', options: { metadata: { flow: 1 } } }] }, 'children[0]'],
      [{ task: 'root', children: [{ task: 'c', options: { manager: {} } }] }, 'children[0]'],
      [{ task: 7 }, 'root'],
    ];
    for (const [node, path] of cases)
      assert.throws(
        () => buildFlow(node, make),
        (error: unknown) => error instanceof FlowValidationError && error.path === path,
        JSON.stringify(node),
      );
  });
});
