/**
 * Recognises upstream error pages that leak internals: HTML error pages and stack traces of the common runtimes.
 * Patterns work on raw text, JSON-escaped newlines included ("\n    at ..."), so a trace inside a JSON `stack`
 * member is found as well. Only the first SCAN_BYTES are looked at: a trace starts early.
 */
const SCAN_BYTES = 64 * 1024;

const TRACE_PATTERNS: readonly RegExp[] = [
  // Java / Kotlin / Scala
  /\bat [\w$.<>]+\((?:[\w$-]+\.(?:java|kt|scala):\d+|Native Method|Unknown Source)\)/,
  /\bException in thread "[^"]*"/,
  /\b(?:java|javax|org\.springframework)\.[\w.$]+(?:Exception|Error)\b/,
  // Python
  /Traceback \(most recent call last\)/,
  /\bFile "[^"]+", line \d+, in \w+/,
  // Node.js
  /\bat (?:async )?[^\s()]*\s?\(?(?:file:\/\/|node:|\/|[A-Za-z]:\\)[^\s()]*:\d+:\d+\)?/,
  // .NET
  /\bat [\w.<>`[\]]+\([^)]*\) in [^\s]+:line \d+/,
  /\bSystem\.[\w.]+Exception\b/,
  // PHP
  /\b(?:Fatal error|Parse error|Warning|Notice|Uncaught \w+)(?:<\/b>)?:? .{0,400}? in (?:<b>)?\S+\.php(?:<\/b>)? on line/,
  /#\d+ \S+\.php\(\d+\): /,
  // Ruby
  /\S+\.rb:\d+:in `[^']+'/,
  // Go
  /\bgoroutine \d+ \[running\]:/,
  /\bpanic: .{0,200}\n?\s*goroutine/,
];

export function looksLikeStackTrace(body: Buffer): boolean {
  const text = body.subarray(0, SCAN_BYTES).toString('utf8');
  return TRACE_PATTERNS.some((re) => re.test(text));
}

/** The trace pattern's runtime, for the audit event (never the trace itself). */
export function traceKind(body: Buffer): string {
  const text = body.subarray(0, SCAN_BYTES).toString('utf8');
  const i = TRACE_PATTERNS.findIndex((re) => re.test(text));
  return (
    ['java', 'java', 'java', 'python', 'python', 'node', 'dotnet', 'dotnet', 'php', 'php', 'ruby', 'go', 'go'][i] ??
    'none'
  );
}

export function isHtmlType(contentType: string): boolean {
  const t = contentType.toLowerCase();
  return t.startsWith('text/html') || t.startsWith('application/xhtml');
}
