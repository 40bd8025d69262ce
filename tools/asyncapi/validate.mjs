// Parse every AsyncAPI document with the official parser (@asyncapi/parser, pinned in package-lock.json):
// the same checks AsyncAPI Studio and the CLI run (schema, references, the spec's semantic rules).
// Prints every diagnostic; exits 1 when any is an error or a document cannot be parsed, 2 when there is none.
// Usage: node validate.mjs [file.json ...]   (default: docs/asyncapi/*.json of this repository)
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import parserPackage from "@asyncapi/parser";

const { Parser, DiagnosticSeverity } = parserPackage;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SEVERITY = Object.fromEntries(Object.entries(DiagnosticSeverity).map(([name, value]) => [value, name]));

function documents(args) {
  if (args.length > 0) return args.map((file) => resolve(file));
  const folder = join(ROOT, "docs", "asyncapi");
  return readdirSync(folder).filter((name) => name.endsWith(".json")).sort().map((name) => join(folder, name));
}

async function check(parser, file) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), { source: file });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? ` at ${d.path.join("/")}` : "";
    console.log(`${relative(ROOT, file)}: ${SEVERITY[d.severity].toLowerCase()} ${d.code}${where}: ${d.message}`);
  }
  const ok = document !== undefined && errors.length === 0;
  const summary = ok ? `AsyncAPI ${document.version()}, ${document.messages().length} messages` : "INVALID";
  console.log(`${relative(ROOT, file)}: ${summary} (${errors.length} errors, ${diagnostics.length - errors.length} other)`);
  return ok;
}

const files = documents(process.argv.slice(2));
if (files.length === 0) {
  console.error("no AsyncAPI document found");
  process.exit(2);
}
const parser = new Parser();
let failed = 0;
for (const file of files) {
  if (!(await check(parser, file))) failed += 1;
}
console.log(`${files.length - failed} of ${files.length} AsyncAPI documents valid`);
process.exit(failed ? 1 : 0);
