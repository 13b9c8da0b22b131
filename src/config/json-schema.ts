import { z } from 'zod';
import { configSchema } from './schema.js';

/** The JSON Schema of rampart.yaml, from the same zod schema the loader uses (input side: what you write). */
export function configJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
    // zod drops defaults of transforming fields (ints, header names) on the input side; ours are valid inputs too,
    // and editors and docs/configuration.md want them.
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (def.type === 'default' && jsonSchema.default === undefined)
        jsonSchema.default = JSON.parse(JSON.stringify(def.defaultValue)) as unknown;
    },
  });
  return { ...s, $id: 'https://rampart.dev/schema/rampart.json', title: 'Rampart gateway configuration' };
}
