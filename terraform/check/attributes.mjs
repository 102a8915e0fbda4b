// Regenerates attributes.json, the attribute names of every AWS resource and
// data source type that terraform/ uses, from the provider's own schema:
//
//   cd terraform/examples/three-region/region   (with a local backend:
//   an override file saying terraform { backend "local" {} })
//   terraform init
//   terraform providers schema -json > /tmp/schema.json
//   node terraform/check/attributes.mjs /tmp/schema.json
//
// check.mjs uses the file to tell whether `TYPE.NAME.ATTR` names a real
// attribute without a terraform binary or the provider.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "@cdktf/hcl2json";
import { tfFiles } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const schema = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const prov = Object.entries(schema.provider_schemas).find(([k]) => k.endsWith("/aws"))[1];

const used = { resource: new Set(), data: new Set() };
for (const f of tfFiles(root)) {
    const j = await parse(f, fs.readFileSync(f, "utf8"));
    for (const kind of ["resource", "data"]) {
        for (const t of Object.keys(j[kind] ?? {})) used[kind].add(t);
    }
}

function names(block) {
    return [...Object.keys(block.attributes ?? {}), ...Object.keys(block.block_types ?? {})].sort();
}

const out = { resource: {}, data: {} };
for (const t of [...used.resource].sort()) out.resource[t] = names(prov.resource_schemas[t].block);
for (const t of [...used.data].sort()) out.data[t] = names(prov.data_source_schemas[t].block);
fs.writeFileSync(path.join(here, "attributes.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`attributes.json: ${used.resource.size} resource and ${used.data.size} data source types`);
