import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storableText } from '../../../src/serialization/storable-text.js';

describe('storableText', () => {
  test('NUL and lone surrogates become U+FFFD, one for one', () => {
    assert.equal(storableText('bad\u0000byte'), 'bad\ufffdbyte');
    assert.equal(storableText('\u0000\u0000'), '\ufffd\ufffd');
    assert.equal(storableText('x\ud800'), 'x\ufffd');
    assert.equal(storableText('\udc00y'), '\ufffdy');
    assert.equal(storableText('\udc00\ud800'), '\ufffd\ufffd', 'a low before a high surrogate is no pair');
  });

  test('well-formed text is returned as it is, surrogate pairs included', () => {
    for (const text of ['', 'plain', 'ü😀 ok', '\ud83d\ude00', 'tab\tnewline\n', '\ufffd'])
      assert.equal(storableText(text), text);
    assert.equal(storableText('a😀\u0000b'), 'a😀\ufffdb');
  });
});
