/**
 * JSON pointers for error reports. Keys come from the request (an unknown property, a key under
 * additionalProperties), so a key that is not a plain name is shown as "*": the report points at the field without
 * repeating what an attacker wrote (markup, control characters, long junk).
 */
const PLAIN = /^[A-Za-z0-9_.\-[\]@$]{1,64}$/;

/** A key or parameter name as shown to the client: itself when plain, else "*". */
export function shownName(key: string): string {
  return PLAIN.test(key) ? key : '*';
}

/** One pointer segment (escaped per RFC 6901) for a key. */
export function pointerSegment(key: string): string {
  return shownName(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** An ajv instancePath ("/a/b~1c/0") with each non-plain key replaced by "*". */
export function safePointer(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => `/${pointerSegment(s.replaceAll('~1', '/').replaceAll('~0', '~'))}`)
    .join('');
}
