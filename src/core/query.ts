/**
 * One component (name or value) of a query string as form parsers read it: "+" is a space, percent-escapes
 * decoded; a malformed escape leaves the component as sent rather than failing the request.
 */
export function decodeQueryComponent(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}
