// `meshwork analyze`: check Istio-style mesh config before applying it, as `istioctl analyze` does: every file
// loaded, every resource validated with Istio's rules, then the checks across resources (undefined subsets and
// gateways, conflicting gateways, routes shadowed by an earlier match, duplicates, subsets whose labels match
// no workload; security policies that are ignored, select no workload, or conflict with a DestinationRule's
// TLS). Prints one line per finding and exits 1 when any is an error.
import fs from 'node:fs';
import path from 'node:path';
import { parseCommand } from './args.js';

const HELP = `Usage: meshwork analyze <dir or file>... [options]

Checks Istio-style resources (networking.istio.io Gateway, VirtualService, DestinationRule, ServiceEntry,
WorkloadEntry, Sidecar; security.istio.io PeerAuthentication, AuthorizationPolicy, RequestAuthentication) the way \`meshwork control-plane --mesh-dir\` will read them, and reports every error
and warning with its file:line:column. Exit code: 0 no errors (warnings allowed), 1 errors, 2 usage.

Options:
      --json         one JSON object per finding instead of text
  -q, --quiet        errors only
  -h, --help         this help
`;

const CONFIG_FILE = /\.(ya?ml|json)$/i;

interface Finding {
  severity: 'error' | 'warning';
  code: string;
  location?: string;
  message: string;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('analyze', HELP, argv, { json: { type: 'boolean', default: false }, quiet: { type: 'boolean', short: 'q', default: false } });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length === 0) {
    process.stderr.write(`meshwork analyze: give a directory or file\n\n${HELP}`);
    return 2;
  }
  const files: string[] = [];
  for (const p of positionals) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (err) {
      process.stderr.write(`meshwork analyze: cannot read "${p}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return 2;
    }
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(p).sort()) if (CONFIG_FILE.test(n) && !n.startsWith('.')) files.push(path.join(p, n));
    } else files.push(p);
  }
  const { loadMeshText, validateMeshResource, analyzeMesh } = await import('../api/mesh/index.js');
  const { workloadFindings } = await import('../control-plane/validation/workloads.js');
  const { delegateFindings } = await import('../control-plane/validation/delegates.js');
  const { securityFindings } = await import('../control-plane/validation/security.js');
  const findings: Finding[] = [];
  const resources = [];
  for (const file of files) {
    const { resources: rs, errors } = loadMeshText(fs.readFileSync(file, 'utf8'), file);
    for (const e of errors) findings.push({ severity: 'error', code: e.code, location: e.location, message: e.message });
    for (const r of rs) {
      const v = validateMeshResource(r);
      for (const d of [...v.errors, ...v.warnings]) findings.push({ severity: d.severity, code: d.code, location: d.location, message: d.message });
      // an invalid resource is not served, so the checks across resources leave it out as the store does
      if (v.errors.length === 0) resources.push(r);
    }
  }
  for (const d of [...analyzeMesh(resources), ...workloadFindings(resources), ...delegateFindings(resources), ...securityFindings(resources)]) findings.push({ severity: d.severity, code: d.code, location: d.location, message: d.message });

  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  for (const f of findings) {
    if (values.quiet && f.severity !== 'error') continue;
    if (values.json) process.stdout.write(`${JSON.stringify(f)}\n`);
    else process.stdout.write(`${f.severity === 'error' ? 'Error' : 'Warning'} [${f.code}] ${f.message}\n`);
  }
  if (!values.json) {
    process.stdout.write(
      errors + warnings === 0
        ? `✔ No validation issues found in ${resources.length} resource${resources.length === 1 ? '' : 's'} (${files.length} file${files.length === 1 ? '' : 's'})\n`
        : `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'} in ${files.length} file${files.length === 1 ? '' : 's'}\n`,
    );
  }
  return errors > 0 ? 1 : 0;
}
