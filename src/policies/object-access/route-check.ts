/**
 * A check across config sections, run from the config schema's superRefine on raw values: every `param:` an
 * object-access rule reads must be a parameter of some path of each route the rule applies to. A typo there would
 * otherwise deny every request (or, with `optional: true`, silently never check anything).
 */
export function objectAccessIssues(
  root: Record<string, unknown>,
  add: (path: PropertyKey[], message: string) => void,
): void {
  const obj = (v: unknown): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const blockOf = (policies: unknown): Record<string, unknown> | undefined => {
    const b = obj(policies)['object-access'];
    return b && typeof b === 'object' ? (b as Record<string, unknown>) : undefined;
  };
  const reported = new Set<string>();
  list(root.routes).forEach((item, i) => {
    const r = obj(item);
    // Most specific wins, whole block at a time (as the pipeline builds it).
    let block = blockOf(root.policies);
    let at: PropertyKey[] = ['policies', 'object-access'];
    const up = typeof r.upstream === 'string' ? blockOf(obj(obj(root.upstreams)[r.upstream]).policies) : undefined;
    if (up) {
      block = up;
      at = ['upstreams', r.upstream as string, 'policies', 'object-access'];
    }
    const own = blockOf(r.policies);
    if (own) {
      block = own;
      at = ['routes', i, 'policies', 'object-access'];
    }
    if (!block || block.enabled === false || block.enabled === 'false') return;
    const declared = new Set<string>();
    for (const p of list(r.paths))
      if (typeof p === 'string')
        for (const m of p.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) declared.add(m[1] as string);
    const uses: [PropertyKey[], unknown][] = [];
    list(block.bindings).forEach((b, k) => {
      uses.push([[...at, 'bindings', k, 'from', 'param'], obj(obj(b).from).param]);
    });
    const protect = block.protect;
    if (Array.isArray(protect))
      protect.forEach((p, k) => {
        uses.push([[...at, 'protect', k, 'id_from', 'param'], obj(obj(p).id_from).param]);
      });
    else uses.push([[...at, 'protect', 'id_from', 'param'], obj(obj(protect).id_from).param]);
    for (const [path, name] of uses) {
      if (typeof name !== 'string' || declared.has(name)) continue;
      const key = path.join('.');
      if (reported.has(key)) continue;
      reported.add(key);
      const routeName = typeof r.name === 'string' ? `route "${r.name}"` : `routes[${i}]`;
      add(
        path,
        `${routeName} has no path parameter {${name}}${declared.size ? ` (its parameters: ${[...declared].join(', ')})` : ''}`,
      );
    }
  });
}
