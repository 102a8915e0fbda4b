// Helpers shared by check.mjs and attributes.mjs.
import fs from "node:fs";
import path from "node:path";

// Every .tf file under dir, skipping node_modules and .terraform.
export function tfFiles(dir) {
    const out = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.name === "node_modules" || e.name.startsWith(".")) continue;
        const p = path.join(dir, e.name);
        if (e.isDirectory()) out.push(...tfFiles(p));
        else if (e.name.endsWith(".tf")) out.push(p);
    }
    return out.sort();
}
