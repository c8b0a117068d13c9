// Checks Kubernetes manifests offline against Kubernetes' OpenAPI schemas:
// each document's apiVersion and kind pick kubernetes-models' class, whose
// validator (compiled with ajv from the schema) checks types, required
// fields, enums and formats. Like kubeconform without -strict, a field
// the schema does not know is not an error here (test_kubernetes.py
// checks the manifests' own consistency besides).
//
//   node validate.mjs FILE.yaml...    (from this folder: node_modules/)
//
// Prints one JSON line per document, {file, kind, name, errors}, and
// exits 1 when any document has errors (a YAML error, duplicate keys, an
// unknown kind, a schema violation), 2 on a usage error.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

async function modelFor(apiVersion, kind) {
  // "v1" -> kubernetes-models/v1/KIND; "apps/v1" -> .../apps/v1/KIND
  if (typeof apiVersion !== "string" || typeof kind !== "string" ||
      !/^[A-Za-z0-9.\/-]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind))
    return null;
  try {
    const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] || null;
  } catch {
    return null;
  }
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node validate.mjs FILE.yaml...");
  process.exit(2);
}
let bad = 0;
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true });
  for (const doc of docs) {
    const out = { file, kind: null, name: null, errors: [] };
    for (const e of doc.errors) out.errors.push(`YAML: ${e.message}`);
    const obj = out.errors.length ? null : doc.toJS();
    if (obj && typeof obj === "object") {
      out.kind = obj.kind ?? null;
      out.name = obj.metadata?.name ?? null;
      const Model = await modelFor(obj.apiVersion, obj.kind);
      if (!Model) {
        out.errors.push(`unknown apiVersion/kind: ${obj.apiVersion}/${obj.kind}`);
      } else {
        try {
          new Model(obj).validate();
        } catch (e) {
          out.errors.push(String(e.message || e));
        }
      }
    } else if (!out.errors.length) {
      out.errors.push("not a Kubernetes object (a mapping with apiVersion and kind)");
    }
    if (out.errors.length) bad++;
    console.log(JSON.stringify(out));
  }
}
process.exit(bad ? 1 : 0);
