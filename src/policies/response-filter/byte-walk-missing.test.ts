import { describe, expect, it, vi } from 'vitest';
import { LARGE_JSON } from '../../../bench/large-json.js';

// A runtime that cannot compile the module (no WebAssembly SIMD): bytes that are not a module stand in for it.
vi.mock('./byte-walk.wasm.js', () => ({ BYTE_WALK_WASM: Buffer.from('not a module').toString('base64') }));

describe('the byte filter without its WebAssembly module', () => {
  it('walks every answer in JavaScript, with the same cut', async () => {
    const { walkReady } = await import('./byte-walk.js');
    const { ByteFilter } = await import('./byte-filter.js');
    const { compilePath } = await import('./json-path.js');
    const { SchemaCompiler } = await import('./schema-filter.js');
    expect(walkReady).toBe(false);
    const shape = new SchemaCompiler({}).compile({
      type: 'object',
      properties: {
        items: { type: 'array', items: { type: 'object', properties: { id: {}, name: {}, email: {} } } },
      },
    });
    const f = new ByteFilter();
    const out = f.run(Buffer.from(LARGE_JSON), shape, [compilePath('$.items[*].email')], null, 10);
    expect(f.walks).toEqual({ wasm: 0, js: 1 });
    // page and total, then per item: everything but id, name and email by the schema, email by the rule.
    expect(out?.count).toBe(2 + 20 * 10 + 20);
    expect(out?.bySchema).toBe(2 + 20 * 10);
    const body = JSON.parse(out?.body().toString() ?? 'null') as { items: Record<string, unknown>[] };
    expect(body.items[3]).toEqual({ id: 'u_1004', name: 'User Number 3' });
  });
});
