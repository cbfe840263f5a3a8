// negentropy-driver.mjs: a line-oriented driver around the Negentropy v1
// implementation in the npm package nostr-tools (module nip77, a port of
// hoytech/negentropy's JavaScript), used by antientropy/interop_test.go to
// check wire compatibility.
//
// Env NEGENTROPY_JS_MODULES is the node_modules directory holding
// nostr-tools. Commands are JSON objects, one a line, on stdin; every
// command gets exactly one JSON line on stdout:
//
//   {"op":"version"}                          -> {"version":"2.25.2","module":"<path>"}
//   {"op":"load","session":"a","items":[[ts,"hexid"],...],"frameSizeLimit":N}
//                                             -> {"size":n}   (insert + seal)
//   {"op":"initiate","session":"a","frameSizeLimit":N}
//                                             -> {"msg":"hex"}
//   {"op":"reconcile","session":"a","msg":"hex"}
//                                             -> {"msg":"hex"|null,"have":[...],"need":[...]}
//
// "session" defaults to "default"; frameSizeLimit defaults to the one given
// at load, else nostr-tools' default (60000). Any failure gives
// {"error":"..."} and the driver goes on reading.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const modules = process.env.NEGENTROPY_JS_MODULES;
if (!modules) {
  process.stderr.write("negentropy-driver: NEGENTROPY_JS_MODULES is not set\n");
  process.exit(2);
}
const pkgDir = path.join(path.resolve(modules), "nostr-tools");
const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));

// nostr-tools 2.25.2 ships lib/esm/nip77.js but its "exports" map has no
// "./nip77" entry, so the bare specifier "nostr-tools/nip77" does not
// resolve. Use the "./nip77" export when a version has one, else the module
// file by absolute path, else the nip77 namespace of the package root.
function exportPath(sub) {
  let e = pkg.exports && pkg.exports[sub];
  if (typeof e === "object" && e !== null) e = e.import ?? e.default;
  return typeof e === "string" ? path.join(pkgDir, e) : null;
}

async function loadNip77() {
  const errors = [];
  const candidates = [
    [exportPath("./nip77"), (m) => m],
    [path.join(pkgDir, "lib", "esm", "nip77.js"), (m) => m],
    [exportPath("."), (m) => m.nip77],
  ];
  for (const [file, pick] of candidates) {
    if (!file) continue;
    if (!existsSync(file)) {
      errors.push(file + " does not exist");
      continue;
    }
    try {
      const m = pick(await import(pathToFileURL(file).href));
      if (m && m.Negentropy && m.NegentropyStorageVector) return { m, where: file };
      errors.push(file + ": no Negentropy export");
    } catch (e) {
      errors.push(file + ": " + String(e && e.message ? e.message : e));
    }
  }
  throw new Error("cannot load nostr-tools nip77: " + errors.join("; "));
}

const { m: nip77, where } = await loadNip77();
const sessions = new Map();

function session(name) {
  const s = sessions.get(name ?? "default");
  if (!s) throw new Error("no session " + JSON.stringify(name ?? "default") + ": load first");
  return s;
}

function handle(cmd) {
  switch (cmd.op) {
    case "version":
      return { version: pkg.version, module: where };
    case "load": {
      const storage = new nip77.NegentropyStorageVector();
      for (const [ts, id] of cmd.items ?? []) {
        if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) throw new Error("bad timestamp " + ts);
        storage.insert(ts, id);
      }
      storage.seal();
      const limit = cmd.frameSizeLimit || undefined;
      sessions.set(cmd.session ?? "default", { storage, limit, neg: new nip77.Negentropy(storage, limit) });
      return { size: storage.size() };
    }
    case "initiate": {
      const s = session(cmd.session);
      if (cmd.frameSizeLimit) s.limit = cmd.frameSizeLimit;
      // A fresh instance: initiate() does not reset lastTimestampOut.
      s.neg = new nip77.Negentropy(s.storage, s.limit);
      return { msg: s.neg.initiate() };
    }
    case "reconcile": {
      const s = session(cmd.session);
      const have = [], need = [];
      const msg = s.neg.reconcile(cmd.msg, (id) => have.push(id), (id) => need.push(id));
      return { msg: msg ?? null, have, need };
    }
    default:
      throw new Error("unknown op " + JSON.stringify(cmd.op));
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === "") continue;
  let reply;
  try {
    reply = handle(JSON.parse(line));
  } catch (e) {
    reply = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
