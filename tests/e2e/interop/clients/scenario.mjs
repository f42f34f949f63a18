// Node's basic-ftp on its defaults (explicit TLS with `secure: true`, passive mode), with the OCES
// client certificate: runs the interop scenario's steps and prints one JSON line each.
// Usage: node scenario.mjs HOST PORT CA_PEM CERT_PEM KEY_PEM STEPS_FILE  (NODE_PATH: basic-ftp)
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { Client } = require("basic-ftp");
const [host, port, ca, cert, key, steps] = process.argv.slice(2);

function report(op, ok, response, extra = {}) {
  const code = response && response.code ? response.code : 0;
  const reply = response && response.message ? response.message.trim() : "";
  console.log(JSON.stringify({ op, ok, code, reply, ...extra }));
}

const client = new Client(30000);
report("login", true, await client.access({
  host, port: Number(port), user: "anonymous", password: "guest", secure: true,
  secureOptions: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) },
}));
for (const line of readFileSync(steps, "utf8").split("\n").filter(Boolean)) {
  const [op, ...args] = line.split("\t");
  try {
    switch (op) {
      case "list": {
        const files = await client.list(args[0]);
        report(op, true, null, { names: files.map((f) => f.name) });
        break;
      }
      case "cwd": report(op, true, await client.cd(args[0])); break;
      case "cdup": report(op, true, await client.send("CDUP")); break;
      case "mkd": report(op, true, await client.send(`MKD ${args[0]}`)); break;
      case "mfmt": report(op, true, await client.send(`MFMT ${args[1]} ${args[0]}`)); break;
      case "dele": report(op, true, await client.remove(args[0])); break;
      case "put": report(op, true, await client.uploadFrom(args[0], args[1])); break;
      case "get": report(op, true, await client.downloadTo(args[1], args[0])); break;
      default: throw new Error(`unknown step ${op}`);
    }
  } catch (error) {
    report(op, false, { code: error.code, message: error.message }, { error: String(error) });
    if (client.closed) break;
  }
}
client.close();
