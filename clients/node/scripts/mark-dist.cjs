// mark-dist.cjs: marks dist/esm as ES modules and dist/cjs as CommonJS, so that Node reads
// each build's .js files as what tsc made of them whatever the package's own "type" says.
const fs = require("node:fs");
const path = require("node:path");

const dist = path.join(__dirname, "..", "dist");
for (const [dir, type] of [
  ["esm", "module"],
  ["cjs", "commonjs"],
]) {
  fs.writeFileSync(path.join(dist, dir, "package.json"), JSON.stringify({ type }) + "\n");
}
