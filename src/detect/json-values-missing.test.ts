import { describe, expect, it, vi } from 'vitest';

// A runtime that cannot compile the module (no WebAssembly SIMD): bytes that are not a module stand in for it.
vi.mock('./json-values.wasm.js', () => ({ JSON_VALUES_WASM: Buffer.from('not a module').toString('base64') }));

describe('the detection engine without its WebAssembly JSON reader', () => {
  it('reads JSON bodies with JSON.parse, with the same findings', async () => {
    const { jsonValuesReady } = await import('./json-values.js');
    const { DetectionEngine } = await import('./engine.js');
    expect(jsonValuesReady).toBe(false);
    const req = (doc: unknown) => ({
      method: 'POST',
      path: '/api/items',
      query: '',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(doc)),
    });
    const engine = new DetectionEngine();
    const attack = engine.inspect(req({ items: [{ note: 'ok' }, { note: "x' UNION SELECT password FROM users--" }] }));
    expect(attack.attack).toBe(true);
    expect(attack.findings[0]?.location).toBe('body./items/1/note');
    expect(engine.inspect(req({ note: "I'm out; the door code is 4-1-7. Thanks & have a nice day" })).attack).toBe(
      false,
    );
  });
});
