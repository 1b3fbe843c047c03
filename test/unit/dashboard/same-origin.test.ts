import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { originAllowed, stateChangeRefusal } from '../../../src/dashboard/same-origin.js';

const request = (headers: Record<string, string>) => ({ headers: { host: 'ops.example.com', ...headers } });
const json = { 'content-type': 'application/json' };

describe('stateChangeRefusal (dashboard actions)', () => {
  test('a same-origin JSON request passes', () => {
    assert.equal(stateChangeRefusal(request({ ...json, origin: 'https://ops.example.com' })), null);
    assert.equal(
      stateChangeRefusal(
        request({
          'content-type': 'application/json; charset=utf-8',
          origin: 'http://ops.example.com',
          'sec-fetch-site': 'same-origin',
        }),
      ),
      null,
    );
    // The Referer stands in for a missing Origin.
    assert.equal(
      stateChangeRefusal(request({ ...json, referer: 'https://ops.example.com/queues/dashboard' })),
      null,
    );
    // Neither header: not a browser, so not a forged request from another page.
    assert.equal(stateChangeRefusal(request(json)), null);
  });

  test('what a form or a no-cors fetch can send is refused', () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      assert.match(
        stateChangeRefusal(request({ 'content-type': type, origin: 'https://ops.example.com' }))!,
        /application\/json/,
      );
    }
    assert.match(stateChangeRefusal(request({ origin: 'https://ops.example.com' }))!, /application\/json/);
  });

  test('another origin is refused, by Origin, by Referer, or by Sec-Fetch-Site', () => {
    assert.match(stateChangeRefusal(request({ ...json, origin: 'https://evil.example' }))!, /Origin/);
    assert.match(stateChangeRefusal(request({ ...json, origin: 'https://ops.example.com:8443' }))!, /Origin/);
    assert.match(stateChangeRefusal(request({ ...json, origin: 'null' }))!, /Origin/);
    assert.match(stateChangeRefusal(request({ ...json, referer: 'https://evil.example/x' }))!, /Referer/);
    assert.match(stateChangeRefusal(request({ ...json, 'sec-fetch-site': 'cross-site' }))!, /cross-site/);
    // A forged Host cannot help a foreign page: the Origin is the browser's.
    assert.notEqual(
      stateChangeRefusal({ headers: { ...json, host: 'ops.example.com', origin: 'http://127.0.0.1:9' } }),
      null,
    );
  });

  test('allowedOrigins lets listed origins through, even cross-site', () => {
    const allowed = ['https://admin.example.org'];
    assert.equal(
      stateChangeRefusal(request({ ...json, origin: 'https://admin.example.org' }), allowed),
      null,
    );
    assert.equal(
      stateChangeRefusal(
        request({ ...json, origin: 'https://admin.example.org', 'sec-fetch-site': 'cross-site' }),
        allowed,
      ),
      null,
    );
    assert.notEqual(
      stateChangeRefusal(request({ ...json, origin: 'http://admin.example.org' }), allowed),
      null,
    );
  });
});

describe('originAllowed', () => {
  test('same host and port as the Host header, default ports included', () => {
    assert.equal(originAllowed('https://a.example', { host: 'a.example:443' }), true);
    assert.equal(originAllowed('http://127.0.0.1:3000', { host: '127.0.0.1:3000' }), true);
    assert.equal(originAllowed('http://127.0.0.1:3001', { host: '127.0.0.1:3000' }), false);
    assert.equal(originAllowed('http://a.example', {}), false);
    assert.equal(originAllowed('file://', { host: 'a.example' }), false);
    assert.equal(originAllowed('anything', {}, true), true);
  });
});
