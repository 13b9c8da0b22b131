import { z } from 'zod';
import { configSchema } from './schema.js';

/** The JSON Schema of rampart.yaml, from the same zod schema the loader uses (input side: what you write). */
export function configJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return { ...s, $id: 'https://rampart.dev/schema/rampart.json', title: 'Rampart gateway configuration' };
}
