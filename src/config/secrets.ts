import { z } from 'zod';

export interface SecretSite {
  path: PropertyKey[];
}

/**
 * Walks the schema and the raw config together and lists every value that lands in a field marked
 * `secret()` (see types.ts), so the loader can refuse or warn about secrets written inline.
 */
export function findSecrets(
  schema: z.ZodType,
  value: unknown,
  path: PropertyKey[] = [],
  out: SecretSite[] = [],
): SecretSite[] {
  if (value === undefined || value === null) return out;
  const meta = z.globalRegistry.get(schema) as { secret?: boolean; secretWhenKey?: string } | undefined;
  if (meta?.secret && typeof value === 'string') {
    out.push({ path });
    return out;
  }
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  switch (def.type) {
    case 'object':
      if (typeof value === 'object') {
        for (const [k, s] of Object.entries(def.shape as Record<string, z.ZodType>)) {
          findSecrets(s, (value as Record<string, unknown>)[k], [...path, k], out);
        }
      }
      break;
    case 'array':
      if (Array.isArray(value)) {
        for (const [i, v] of value.entries()) findSecrets(def.element as z.ZodType, v, [...path, i], out);
      }
      break;
    case 'record':
      if (typeof value === 'object') {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (meta?.secretWhenKey && new RegExp(meta.secretWhenKey, 'i').test(k) && typeof v === 'string')
            out.push({ path: [...path, k] });
          else findSecrets(def.valueType as z.ZodType, v, [...path, k], out);
        }
      }
      break;
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      findSecrets(def.innerType as z.ZodType, value, path, out);
      break;
    case 'pipe':
      findSecrets(def.in as z.ZodType, value, path, out);
      break;
    case 'union':
      // The first option that accepts the value decides.
      for (const o of def.options as z.ZodType[]) {
        if (o.safeParse(value).success) {
          findSecrets(o, value, path, out);
          break;
        }
      }
      break;
  }
  return out;
}
