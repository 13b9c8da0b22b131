import type { Command } from 'commander';
import type { Keyring, MasterRewrap } from '../../crypto/keyring.js';
import type { KeySource } from '../../crypto/types.js';
import type { Services } from '../../services.js';

interface SourceOptions {
  masterKeys?: string;
  masterEnv?: string;
  state?: string;
  config?: string;
}

/**
 * Key rotation from the command line: on the gateway's own store and master key (--config rampart.yaml), or on
 * a state file and a key source given directly. Prints versions only, never key material. Safe while gateways
 * run: they keep their data keys in memory; a master rotation only re-wraps those keys.
 */
export function register(program: Command): void {
  const keyring = program
    .command('keyring')
    .description('master key and data key rotation (prints versions, never keys)')
    .hook('postAction', async () => {
      await opened?.close();
      opened = null;
    });

  keyring
    .command('init')
    .description('create a master key file (mode 0600) holding one random version 1; refuses to overwrite')
    .requiredOption('--master-keys <file>', 'master key file to create')
    .action(async (o: { masterKeys: string }) => {
      const { createKeyFile } = await import('../../crypto/file-key-source.js');
      if (!(await createKeyFile(o.masterKeys))) throw new Error(`${o.masterKeys} already exists; it was left alone`);
      print(`created ${o.masterKeys} (mode 0600) with master key version 1`);
    });

  withSource(keyring.command('rotate'))
    .description(
      'new master key version (key file), or re-wrap under the newest one already listed (--master-env); data keys are re-wrapped, data stays as it is',
    )
    .action(async (o: SourceOptions) => {
      const { ring, source } = await open(o);
      const { FileKeySource } = await import('../../crypto/file-key-source.js');
      if (source instanceof FileKeySource) {
        const r = await ring.rotateMaster();
        print(
          `master key ${source.path}: version ${r.previousMasterVersion} → ${r.masterVersion}`,
          ...rewrapLines(r, o),
        );
      } else {
        const r = await ring.rewrap();
        print(`master key ${source.kind} ${o.masterEnv}: newest version ${r.masterVersion}`, ...rewrapLines(r, o));
      }
    });

  withSource(keyring.command('rotate-data-key'))
    .description('new data key version for a purpose (created when new); older versions still decrypt')
    .argument('<purpose>', 'e.g. secrets, consumer-credentials')
    .action(async (purpose: string, o: SourceOptions) => {
      const { ring } = await open(o);
      const r = await ring.rotateDataKey(purpose);
      const master = ring.status().purposes.find((p) => p.purpose === purpose)?.keys[0]?.masterVersion;
      print(
        r.previous === null
          ? `data key "${purpose}": created version ${r.version} (wrapped under master version ${master})`
          : `data key "${purpose}": version ${r.previous} → ${r.version} (wrapped under master version ${master}); older versions still decrypt, data moves to version ${r.version} as it is re-encrypted`,
        `state saved: ${o.state}`,
      );
    });

  withSource(keyring.command('status'))
    .description('data key versions per purpose and the master versions wrapping them')
    .action(async (o: SourceOptions) => {
      const { ring, source } = await open(o);
      const lines = [`master key (${source.kind}) versions: ${(await source.versions()).join(', ')}`];
      for (const p of ring.status().purposes) {
        lines.push(
          `${p.purpose}: newest ${p.newest}; ${p.keys.map((k) => `v${k.version} under master ${k.masterVersion}`).join(', ')}`,
        );
      }
      if (!ring.purposes.length) lines.push(`no data keys in ${o.state}`);
      print(...lines);
    });
}

function withSource(cmd: Command): Command {
  return cmd
    .option('--master-keys <file>', 'master key file (JSON, mode 0600)')
    .option('--master-env <name>', 'environment variable holding the master key (BASE64, or 2:BASE64,1:BASE64)')
    .option('--state <file>', 'data key state file (wrapped data keys)')
    .option(
      '-c, --config <file>',
      "the gateway's config: its store holds the data keys, its keyring names the master key",
    );
}

/** The gateway's store opened by --config, closed after the command (postAction hook). */
let opened: Services | null = null;

/** Imports the keyring (and with --config the config loader and store) only when a command runs. */
async function open(o: SourceOptions): Promise<{ ring: Keyring; source: KeySource }> {
  if (o.config) {
    const [{ loadConfigFile }, { createLogger }, { openServices }] = await Promise.all([
      import('../../config/load.js'),
      import('../../observability/logger.js'),
      import('../../services.js'),
    ]);
    const { config, file } = loadConfigFile(o.config);
    const services = await openServices(config, file, createLogger('warn'));
    if (!services) throw new Error(`${o.config} configures no store: there is no keyring state to rotate`);
    o.state = `the ${services.store.kind} store of ${o.config}`;
    opened = services;
    return { ring: services.keyring, source: services.source };
  }
  if (!o.masterKeys === !o.masterEnv)
    throw new Error('give --config FILE, or one of --master-keys FILE or --master-env NAME');
  if (!o.state) throw new Error('give --state FILE with --master-keys or --master-env');
  const [{ EnvKeySource }, { FileKeySource }, { FileKeyState }, { Keyring }] = await Promise.all([
    import('../../crypto/env-key-source.js'),
    import('../../crypto/file-key-source.js'),
    import('../../crypto/key-state-file.js'),
    import('../../crypto/keyring.js'),
  ]);
  const source = o.masterKeys ? await FileKeySource.open(o.masterKeys) : EnvKeySource.fromEnv(o.masterEnv ?? '');
  return { ring: await Keyring.open({ source, state: new FileKeyState(o.state) }), source };
}

function rewrapLines(r: MasterRewrap, o: SourceOptions): string[] {
  if (!r.rewrapped.length) return [`no data key needed re-wrapping (all under master version ${r.masterVersion})`];
  return [
    `re-wrapped ${r.rewrapped.length} data key(s) under master version ${r.masterVersion}: ${r.rewrapped
      .map((k) => `${k.purpose} v${k.version} (was master ${k.fromMasterVersion})`)
      .join(', ')}`,
    `state saved: ${o.state}`,
  ];
}

function print(...lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}
