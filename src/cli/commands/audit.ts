import type { Command } from 'commander';
import { collect } from '../store.js';

interface AuditOptions {
  config?: string;
  dir?: string;
  pubkey: string[];
  json?: boolean;
}

/** The audit folder, the trusted public keys and (with --config and a store) the keyring for archived segments. */
async function open(o: AuditOptions, needKeys: boolean) {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { publicKeyFromPem } = await import('../../audit/signer.js');
  const publicKeys = await Promise.all(o.pubkey.map(async (f) => publicKeyFromPem(await readFile(f, 'utf8'))));
  let dir = o.dir;
  let keyring: import('../../crypto/keyring.js').Keyring | null = null;
  let close = async () => {};
  if (o.config) {
    const [{ default: pino }, { loadConfigFile }, { createLogger }, { openServices }, { auditDirOf }, { AuditSigner }] =
      await Promise.all([
        import('pino'),
        import('../../config/load.js'),
        import('../../observability/logger.js'),
        import('../../services.js'),
        import('../../audit/open.js'),
        import('../../audit/signer.js'),
      ]);
    const { config, file } = loadConfigFile(o.config);
    dir ??= auditDirOf(config, file);
    const services = await openServices(config, file, createLogger('warn', pino.destination({ dest: 2, sync: true })));
    if (services) {
      keyring = services.keyring;
      close = () => services.close();
      // The key this node signs with now; --pubkey pins other (older, exported) keys.
      if (!o.pubkey.length) publicKeys.push(AuditSigner.fromKeyring(services.keyring).publicKey);
    }
  }
  if (!dir) throw new Error('give --config (the gateway config) or --dir (an audit folder)');
  if (needKeys && !publicKeys.length) {
    const { PUBKEY_FILE } = await import('../../audit/open.js');
    const f = join(dir, PUBKEY_FILE);
    const pem = await readFile(f, 'utf8').catch(() => null);
    if (!pem) throw new Error(`no public key: pass --pubkey FILE (from \`rampart audit pubkey\`) or --config`);
    process.stderr.write(
      `rampart: warning: trusting ${f}, which lies next to the log it vouches for; pass --pubkey with a copy kept elsewhere\n`,
    );
    publicKeys.push(publicKeyFromPem(pem));
  }
  return { dir, keyring, publicKeys, close };
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'the gateway config (audit folder, keyring for archived segments and the key)')
    .option('--dir <dir>', 'an audit folder (default: audit.dir of --config)')
    .option('--pubkey <file>', 'a trusted Ed25519 public key (PEM); repeatable', collect, [])
    .option('--json', 'print JSON');
}

function parseTime(s: string | undefined, name: string): number | undefined {
  if (s === undefined) return undefined;
  const rel = /^(\d{1,9})([smhdw])$/.exec(s);
  if (rel) {
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[rel[2] as 's'];
    return Date.now() - Number(rel[1]) * unit;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t))
    throw new Error(`${name}: "${s}" is neither a time (2026-11-29T10:00:00Z) nor an age (15m, 24h, 7d)`);
  return t;
}

interface FilterOptions {
  from?: string;
  to?: string;
  type: string[];
  kind: string[];
  consumer?: string;
  ip?: string;
  route?: string;
  status?: string;
  text?: string;
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--from <time>', 'events at or after: ISO-8601 time or an age (24h, 7d)')
    .option('--to <time>', 'events before: ISO-8601 time or an age')
    .option('--type <type>', 'event type ("auth.failure"; "auth." for a prefix); repeatable', collect, [])
    .option('--kind <kind>', 'request, security, change or system; repeatable', collect, [])
    .option('--consumer <id>', 'consumer id or subject')
    .option('--ip <ip>', 'client address')
    .option('--route <name>', 'route name')
    .option('--status <code>', 'HTTP status')
    .option('--text <text>', 'case-insensitive text anywhere in the event');
}

async function filterOf(o: FilterOptions) {
  const from = parseTime(o.from, '--from');
  const to = parseTime(o.to, '--to');
  if (o.status !== undefined && !/^\d{3}$/.test(o.status)) throw new Error('--status is a 3-digit HTTP status');
  return {
    ...(from !== undefined && { from }),
    ...(to !== undefined && { to }),
    types: o.type,
    kinds: o.kind,
    ...(o.consumer !== undefined && { consumer: o.consumer }),
    ...(o.ip !== undefined && { ip: o.ip }),
    ...(o.route !== undefined && { route: o.route }),
    ...(o.status !== undefined && { status: Number(o.status) }),
    ...(o.text !== undefined && { text: o.text }),
  };
}

/** `rampart audit …`: verify the hash chains, export the public key, export and search events. */
export function register(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log: verify, pubkey, export, search');

  withCommon(audit.command('verify'))
    .description(
      'prove every chain intact, or name the first altered, removed, inserted, reordered or truncated record (exit 1)',
    )
    .option('--chain <name>', 'only this chain (main, w1, cli, ...)')
    .action(async (o: AuditOptions & { chain?: string }) => {
      const { verifyAuditDir } = await import('../../audit/verify.js');
      const ctx = await open(o, true);
      try {
        const reports = await verifyAuditDir(ctx.dir, {
          publicKeys: ctx.publicKeys,
          keyring: ctx.keyring,
          ...(o.chain && { chain: o.chain }),
        });
        if (!reports.length) throw new Error(`no audit chains in ${ctx.dir}`);
        if (o.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
        else
          for (const r of reports) {
            if (r.ok)
              process.stdout.write(
                `chain ${r.chain}: OK  records ${r.first_seq}..${r.last_seq}, signed up to ${r.signed_upto}${r.unsigned_tail ? `, ${r.unsigned_tail} after the last signature` : ''}\n`,
              );
            else
              process.stdout.write(
                `chain ${r.chain}: FAILED at record ${r.problem?.seq ?? '?'} in ${r.problem?.segment} (${r.problem?.kind}): ${r.problem?.message}\n`,
              );
            for (const w of r.warnings) process.stdout.write(`  warning: ${w}\n`);
          }
        if (reports.some((r) => !r.ok)) process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });

  audit
    .command('pubkey')
    .description('print the audit signing public key (PEM), for a third party to verify with --pubkey')
    .option('-c, --config <file>', 'the gateway config (its keyring derives the key)', 'rampart.yaml')
    .option('--out <file>', 'write it to this file instead')
    .action(async (o: { config: string; out?: string }) => {
      const { withServices } = await import('../store.js');
      const { AuditSigner } = await import('../../audit/signer.js');
      await withServices({ config: o.config }, async ({ keyring }) => {
        const s = AuditSigner.fromKeyring(keyring);
        if (o.out) {
          const { writeFile } = await import('node:fs/promises');
          await writeFile(o.out, s.publicKeyPem());
          process.stderr.write(`wrote ${o.out} (key id ${s.keyId})\n`);
        } else process.stdout.write(s.publicKeyPem());
      });
    });

  withFilters(withCommon(audit.command('export')))
    .description('write events as JSON Lines, CEF or OCSF (JSON Lines) to stdout')
    .option('--format <format>', 'jsonl, cef or ocsf', 'jsonl')
    .action(async (o: AuditOptions & FilterOptions & { format: string }) => {
      if (!['jsonl', 'cef', 'ocsf'].includes(o.format)) throw new Error('--format is jsonl, cef or ocsf');
      const { formatEvent, matches, readRecords } = await import('../../audit/export.js');
      const { VERSION } = await import('../../version.js');
      const f = await filterOf(o);
      const ctx = await open(o, false);
      const skipped: string[] = [];
      let n = 0;
      try {
        for await (const { chain, record } of readRecords(ctx.dir, ctx.keyring, skipped)) {
          if (!matches(record.event, f)) continue;
          n++;
          if (!process.stdout.write(`${formatEvent(chain, record, o.format as 'jsonl', VERSION)}\n`))
            await new Promise((r) => process.stdout.once('drain', r));
        }
      } finally {
        await ctx.close();
      }
      process.stderr.write(
        `${n} event(s)${skipped.length ? `; ${skipped.length} archived segment(s) skipped (pass --config to decrypt)` : ''}\n`,
      );
    });

  withFilters(withCommon(audit.command('search')))
    .description('find events: one line each (newest last), or JSON with --json')
    .option('--limit <n>', 'at most this many (the newest)', '100')
    .action(async (o: AuditOptions & FilterOptions & { limit: string }) => {
      const { matches, readRecords } = await import('../../audit/export.js');
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit is a positive integer');
      const f = await filterOf(o);
      const ctx = await open(o, false);
      const found: { chain: string; seq: number; event: import('../../audit/types.js').AuditEvent }[] = [];
      try {
        for await (const { chain, record } of readRecords(ctx.dir, ctx.keyring)) {
          if (!matches(record.event, f)) continue;
          found.push({ chain, seq: record.seq, event: record.event });
          if (found.length > limit) found.shift();
        }
      } finally {
        await ctx.close();
      }
      found.sort((a, b) => a.event.time.localeCompare(b.event.time));
      if (o.json) process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      else
        for (const { chain, seq, event: e } of found)
          process.stdout.write(
            `${e.time}  ${chain}#${seq}  ${e.type}${e.status !== undefined ? `  ${e.status}` : ''}${e.method ? `  ${e.method} ${e.path}` : ''}${e.route ? `  route=${e.route}` : ''}${e.actor?.consumer ? `  consumer=${e.actor.consumer}` : ''}${e.actor?.client_ip ? `  ip=${e.actor.client_ip}` : ''}${e.request_id ? `  id=${e.request_id}` : ''}\n`,
          );
    });
}
