#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { register as audit } from './commands/audit.js';
import { register as authserver } from './commands/authserver.js';
import { register as certBindings } from './commands/cert-bindings.js';
import { register as certs } from './commands/certs.js';
import { register as clients } from './commands/clients.js';
import { register as consumers } from './commands/consumers.js';
import { register as importOpenApi } from './commands/import-openapi.js';
import { register as inspect } from './commands/inspect.js';
import { register as keyring } from './commands/keyring.js';
import { register as keys } from './commands/keys.js';
import { register as migrate } from './commands/migrate.js';
import { register as policies } from './commands/policies.js';
import { register as reencrypt } from './commands/reencrypt.js';
import { register as schema } from './commands/schema.js';
import { register as start } from './commands/start.js';
import { register as validate } from './commands/validate.js';

/** The CLI is a map of one-file commands; each registers itself. */
const program = new Command('rampart').description('Rampart, a security-first API gateway').version(VERSION);
for (const register of [
  start,
  validate,
  schema,
  policies,
  keyring,
  migrate,
  reencrypt,
  certs,
  certBindings,
  consumers,
  keys,
  clients,
  authserver,
  inspect,
  audit,
  importOpenApi,
])
  register(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`rampart: ${(e as Error).message}\n`);
  process.exit(1);
});
