/**
 * Puts String.prototype back in V8's fast mode. Declaring a subclass of String (ioredis does at import:
 * `class VerbatimString extends String` in resp/verbatim-string.js) leaves String.prototype a dictionary-mode object,
 * and V8's optimizing compiler then cannot resolve a string method at compile time: every `s.indexOf()`,
 * `s.charCodeAt(i)` and `s.length` in optimized code goes through the generic load IC, about 4x slower per call.
 * In the gateway that made the attack detection engine (string work throughout) 40% dearer a request, and every other
 * string-handling path slower too (bench/RESULTS.md, session 15). Adding a property to an object that inherits from
 * String.prototype makes V8 turn the prototype chain back into fast mode.
 */
export function keepStringPrototypeFast(): void {
  const probe = Object.create(String.prototype) as { fast?: boolean };
  probe.fast = true;
}
