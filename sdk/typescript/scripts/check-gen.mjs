// Fails when src/openapi.ts is not what `npm run gen` makes of api/openapi.yaml
// now: the types a client compiles against must be the server's contract.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "ringchat-gen-"));
try {
  const out = join(dir, "openapi.ts");
  execFileSync("node_modules/.bin/openapi-typescript", ["../../api/openapi.yaml", "--output", out], { stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(out, "utf8") !== readFileSync("src/openapi.ts", "utf8")) {
    console.error("src/openapi.ts is stale: api/openapi.yaml changed; run `make sdk-gen` and commit it");
    process.exit(1);
  }
  console.log("src/openapi.ts matches api/openapi.yaml");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
