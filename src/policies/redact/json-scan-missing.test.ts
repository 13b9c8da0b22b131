import { describe, expect, it, vi } from 'vitest';
import { maskingHooks } from '../../../bench/redact-time.js';
import { DETECTORS } from './detectors.js';

// A runtime that cannot compile the module (no WebAssembly SIMD): bytes that are not a module stand in for it.
vi.mock('./json-scan.wasm.js', () => ({ JSON_SCAN_WASM: Buffer.from('not a module').toString('base64') }));

describe('redact without its WebAssembly module', () => {
  it('reads every text in JavaScript, with the same answers', async () => {
    const { redactJsonText } = await import('./json-text.js');
    let string = 0;
    const h = maskingHooks(DETECTORS, true, () => {});
    const counted = {
      ...h,
      string: (...a: Parameters<typeof h.string>) => {
        string++;
        return h.string(...a);
      },
    };
    const body = Buffer.from('{"email":"alice@example.com","card":"4111 1111 1111 1111","at":"2024-01-15T10:00:00Z"}');
    expect(redactJsonText(body, counted)?.toString()).toBe(
      '{"email":"a***@example.com","card":"************1111","at":"2024-01-15T10:00:00Z"}',
    );
    // splice hands every gated string to the hooks (the module would have masked the first two itself).
    expect(string).toBe(3);
  });
});
