// The deployment files must match the code they describe: deploy/config.example.yaml is a valid
// config.yaml that shows every field of the schema, and every config field docs/operations.md
// names exists. (A field added to the schema without a line in the example fails here.)

import fs from 'node:fs';
import path from 'node:path';
import { parseNodeConfig } from '../../src/config/node_config';
import { NODE_CONFIG_SCHEMA } from '../../src/config/node_config_schema';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'deploy', 'config.example.yaml');

/** Every field path of the schema: "id", "raft.heartbeatMs", "chains[].keyFile", ... */
function schemaFields(): string[] {
  const out: string[] = [];
  const walk = (schema: unknown, prefix: string): void => {
    const s = schema as { properties?: Record<string, unknown>; items?: unknown; type?: string };
    if (s.type === 'array' && s.items) walk(s.items, `${prefix}[]`);
    for (const [name, child] of Object.entries(s.properties ?? {})) {
      const field = prefix === '' ? name : `${prefix}.${name}`;
      out.push(field);
      walk(child, field);
    }
  };
  walk(NODE_CONFIG_SCHEMA, '');
  return out;
}

describe('deploy/config.example.yaml', () => {
  const text = fs.readFileSync(EXAMPLE, 'utf8');

  test('is a valid config.yaml', () => {
    const config = parseNodeConfig(text, EXAMPLE, '/var/lib/raft-signer');
    expect(config.id).toBe('node0');
    expect(config.peers.map((p) => p.id)).toContain(config.id);
  });

  test('shows every field of the schema (commented out where it cannot be set together with another)', () => {
    const missing = schemaFields().filter((field) => {
      const leaf = field.split('.').pop()?.replace('[]', '') ?? field;
      return !new RegExp(`^\\s*(#\\s*)?(- )?${leaf}:`, 'm').test(text);
    });
    expect(missing).toEqual([]);
  });
});

describe('docs/operations.md', () => {
  test('every config field it names in backticks exists', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
    const known = new Set(schemaFields().map((f) => f.replace(/\[\]/g, '')));
    const named = [...doc.matchAll(/`((?:raft|signing|tls|metrics|chains(?:\[\])?)\.[A-Za-z]+)`/g)].map((m) => m[1].replace(/\[\]/g, ''));
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((f) => !known.has(f))).toEqual([]);
  });
});
