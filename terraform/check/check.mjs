// Offline checks of terraform/ (run by scripts/terraform-check; no terraform
// binary, no provider, no cloud):
//
//  1. every .tf file parses (HCL, through @cdktf/hcl2json);
//  2. in every module: each var.X, local.X, resource, data source and
//     module.X.OUT referred to is declared; TYPE.NAME.ATTR names a real
//     attribute of TYPE (attributes.json, from the provider's schema);
//     every module call passes only inputs its module declares, and all of
//     its required ones; a sensitive variable is never in an output and is
//     passed only into sensitive inputs;
//  3. the example's *.tfvars.example sets only declared variables, every
//     required one except the sensitive ones, and none of those;
//  4. the region module's templates, rendered with the example's values for
//     each of the five nodes, give cloud-init YAML whose drnode.ini drnode
//     --check-config accepts (also with join = true, as a replacement node
//     gets), whose [bootstrap]/[member.*]/[region.*] sections are the same
//     on every node, and whose config and token are written 0600.
//
// The per-node template values are computed here the way modules/region
// computes them (locals in main.tf, the templatefile() calls). The check
// fails if the templatefile() calls pass other keys than the ones computed
// here, or if a template uses a name it is not given.
//
// Usage: node check.mjs [--drnode PATH] [--terraform PATH] [--keep DIR]
//   --keep: also write the rendered configs and cloud-init files to DIR.
//   --terraform: also render node 1's templates with terraform's own
//   templatefile() (terraform console) and compare.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parse as parseHcl } from "@cdktf/hcl2json";
import YAML from "yaml";
import { tfFiles } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const rel = (p) => path.relative(path.resolve(root, ".."), p);

const opts = {};
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];

const problems = [];
let passed = 0;
const problem = (msg) => problems.push(msg);
const ok = (msg) => {
    passed++;
    console.log(`  ok: ${msg}`);
};

// ---------------------------------------------------------------- parsing

const modules = new Map(); // dir -> module info
const attributes = JSON.parse(fs.readFileSync(path.join(here, "attributes.json"), "utf8"));

function moduleOf(dir) {
    if (!modules.has(dir)) {
        modules.set(dir, {
            dir,
            variables: {},
            locals: new Set(),
            resources: new Map(),
            data: new Map(),
            calls: {},
            outputs: {},
            exprs: [], // [where, string]
        });
    }
    return modules.get(dir);
}

// Every string (keys included) inside v, with where it was found.
function strings(v, where, out) {
    if (typeof v === "string") out.push([where, v]);
    else if (Array.isArray(v)) v.forEach((x) => strings(x, where, out));
    else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
            if (k === "description") continue;
            strings(k, where, out);
            strings(x, where, out);
        }
    }
    return out;
}

let nfiles = 0;
for (const f of tfFiles(root)) {
    let j;
    try {
        j = await parseHcl(f, fs.readFileSync(f, "utf8"));
    } catch (e) {
        problem(`${rel(f)}: does not parse: ${String(e.message ?? e).split("\n")[0]}`);
        continue;
    }
    nfiles++;
    const m = moduleOf(path.dirname(f));
    const name = rel(f);
    for (const [v, [b]] of Object.entries(j.variable ?? {})) {
        m.variables[v] = { required: !("default" in b), sensitive: b.sensitive === true, file: name };
        strings(b, `${name}: variable ${v}`, m.exprs);
    }
    for (const l of j.locals ?? []) {
        for (const [k, v] of Object.entries(l)) {
            m.locals.add(k);
            strings(v, `${name}: local.${k}`, m.exprs);
        }
    }
    for (const kind of ["resource", "data"]) {
        for (const [t, byName] of Object.entries(j[kind] ?? {})) {
            for (const [n, [b]] of Object.entries(byName)) {
                (kind === "resource" ? m.resources : m.data).set(`${t}.${n}`, b);
                strings(b, `${name}: ${kind === "data" ? "data." : ""}${t}.${n}`, m.exprs);
            }
        }
    }
    for (const [n, [b]] of Object.entries(j.module ?? {})) {
        m.calls[n] = { block: b, file: name };
        strings(b, `${name}: module ${n}`, m.exprs);
    }
    for (const [n, [b]] of Object.entries(j.output ?? {})) {
        m.outputs[n] = b;
        strings(b, `${name}: output ${n}`, m.exprs);
    }
    for (const [k, v] of Object.entries(j)) {
        if (!["variable", "locals", "resource", "data", "module", "output"].includes(k)) {
            strings(v, `${name}: ${k}`, m.exprs);
        }
    }
}
if (problems.length === 0) ok(`${nfiles} .tf files parse (${modules.size} modules)`);

// ------------------------------------------------------------- references

// The ${...} parts of a string, nested braces included.
function interpolations(s) {
    const out = [];
    for (let i = s.indexOf("${"); i >= 0; i = s.indexOf("${", i + 1)) {
        if (i > 0 && s[i - 1] === "$") continue; // $${ is a literal
        let depth = 0;
        for (let k = i + 1; k < s.length; k++) {
            if (s[k] === "{") depth++;
            else if (s[k] === "}" && --depth === 0) {
                out.push(s.slice(i + 2, k));
                i = k;
                break;
            }
        }
    }
    return out;
}

const ID = "[A-Za-z_][A-Za-z0-9_-]*";
const RE = {
    variable: new RegExp(`(?<![\\w.])var\\.(${ID})`, "g"),
    local: new RegExp(`(?<![\\w.])local\\.(${ID})`, "g"),
    module: new RegExp(`(?<![\\w.])module\\.(${ID})(?:\\.(${ID}))?`, "g"),
    data: new RegExp(`(?<![\\w.])data\\.(aws_\\w+)\\.(${ID})(?:\\[[^\\]]*\\])?(?:\\.(\\w+))?`, "g"),
    resource: new RegExp(`(?<![\\w.])(aws_\\w+)\\.(${ID})(?:\\[[^\\]]*\\])?(?:\\.(\\w+))?`, "g"),
    forIn: new RegExp(`for\\s+(?:(\\w+)\\s*,\\s*)?(\\w+)\\s+in\\s+(data\\.)?(aws_\\w+)\\.(${ID})\\s*:`, "g"),
};

function checkAttr(kind, type, attr, where) {
    const known = attributes[kind][type];
    if (!known) {
        problem(`${where}: ${type} is not in terraform/check/attributes.json (regenerate it: see attributes.mjs)`);
    } else if (attr && !known.includes(attr)) {
        problem(`${where}: ${kind === "data" ? "data." : ""}${type} has no attribute "${attr}"`);
    }
}

function calleeDir(m, call) {
    const src = call.block.source;
    return typeof src === "string" && src.startsWith(".") ? path.resolve(m.dir, src) : null;
}

let nrefs = 0;
for (const m of modules.values()) {
    for (const [where, s] of m.exprs) {
        for (const e of interpolations(s)) {
            for (const [, v] of e.matchAll(RE.variable)) {
                nrefs++;
                if (!(v in m.variables)) problem(`${where}: var.${v} is not declared in ${rel(m.dir)}`);
            }
            for (const [, l] of e.matchAll(RE.local)) {
                nrefs++;
                if (!m.locals.has(l)) problem(`${where}: local.${l} is not declared in ${rel(m.dir)}`);
            }
            for (const [, n, out] of e.matchAll(RE.module)) {
                nrefs++;
                const call = m.calls[n];
                if (!call) {
                    problem(`${where}: module.${n} is not declared in ${rel(m.dir)}`);
                    continue;
                }
                const dir = calleeDir(m, call);
                if (out && dir && modules.has(dir) && !(out in modules.get(dir).outputs)) {
                    problem(`${where}: module.${n} (${rel(dir)}) has no output "${out}"`);
                }
            }
            for (const [, t, n, a] of e.matchAll(RE.data)) {
                nrefs++;
                if (!m.data.has(`${t}.${n}`)) problem(`${where}: data.${t}.${n} is not declared in ${rel(m.dir)}`);
                else checkAttr("data", t, a, where);
            }
            for (const [, t, n, a] of e.matchAll(RE.resource)) {
                nrefs++;
                if (!m.resources.has(`${t}.${n}`)) problem(`${where}: ${t}.${n} is not declared in ${rel(m.dir)}`);
                else checkAttr("resource", t, a, where);
            }
            // for k, x in TYPE.NAME : ... x.ATTR
            for (const [, , x, isData, t] of e.matchAll(RE.forIn)) {
                for (const [, a] of e.matchAll(new RegExp(`(?<![\\w.])${x}\\.(\\w+)`, "g"))) {
                    checkAttr(isData ? "data" : "resource", t, a, where);
                }
            }
        }
    }

    // Sensitive variables: never in an output.
    for (const [o, b] of Object.entries(m.outputs)) {
        for (const [, s] of strings(b, "", [])) {
            for (const e of interpolations(s)) {
                for (const [, v] of e.matchAll(RE.variable)) {
                    if (m.variables[v]?.sensitive) problem(`${rel(m.dir)}: output ${o} exposes sensitive var.${v}`);
                }
            }
        }
    }

    // Module calls: only declared inputs, every required one, and sensitive
    // values only into sensitive inputs.
    for (const [n, call] of Object.entries(m.calls)) {
        const dir = calleeDir(m, call);
        if (!dir || !modules.has(dir)) {
            problem(`${call.file}: module ${n}: source ${call.block.source} is not a module of this repository`);
            continue;
        }
        const callee = modules.get(dir);
        const meta = new Set(["source", "version", "providers", "count", "for_each", "depends_on"]);
        const given = Object.keys(call.block).filter((k) => !meta.has(k));
        for (const k of given) {
            if (!(k in callee.variables)) {
                problem(`${call.file}: module ${n}: ${rel(dir)} has no input "${k}"`);
                continue;
            }
            const vs = [...interpolations(String(call.block[k])).join(" ").matchAll(RE.variable)].map((x) => x[1]);
            for (const v of vs) {
                if (m.variables[v]?.sensitive && !callee.variables[k].sensitive) {
                    problem(`${call.file}: module ${n}: sensitive var.${v} goes into input "${k}", which is not sensitive`);
                }
            }
        }
        for (const [v, d] of Object.entries(callee.variables)) {
            if (d.required && !given.includes(v)) problem(`${call.file}: module ${n}: required input "${v}" is missing`);
        }
    }
}
if (problems.length === 0) ok(`${nrefs} references resolve; module inputs, outputs and sensitive variables check out`);

// ------------------------------------------------------------- the example

// One cluster description (cluster.tfvars) feeds three kinds of state:
// global/, region/ (once per region, -var region=R) and peering/ (once per
// pair, -var pair=[A,B]); each must accept the whole file.
const exampleDir = path.join(root, "examples", "three-region");
const exampleRoots = ["global", "region", "peering"].map((d) => path.join(exampleDir, d));
const commandLineVars = new Set(["region", "pair"]);
const regionDir = path.join(root, "modules", "region");
const regionMod = modules.get(regionDir);
const tfvarsFile = path.join(exampleDir, "cluster.tfvars.example");
const tfvars = await parseHcl(tfvarsFile, fs.readFileSync(tfvarsFile, "utf8"));
{
    const before = problems.length;
    for (const dir of exampleRoots) {
        const example = modules.get(dir);
        if (!example) {
            problem(`${rel(dir)}: no such root module`);
            continue;
        }
        for (const k of Object.keys(tfvars)) {
            if (!(k in example.variables)) problem(`${rel(tfvarsFile)}: ${k} is not a variable of ${rel(dir)}`);
            else if (example.variables[k].sensitive) problem(`${rel(tfvarsFile)}: sensitive ${k} belongs in TF_VAR_${k}, not in a file`);
        }
        for (const [v, d] of Object.entries(example.variables)) {
            if (d.required && !d.sensitive && !commandLineVars.has(v) && !(v in tfvars)) {
                problem(`${rel(tfvarsFile)}: required variable ${v} of ${rel(dir)} is not set`);
            }
        }
    }
    if (problems.length === before) ok(`${rel(tfvarsFile)} sets declared variables only, every required one, no secret (global, region and peering states)`);
}

// ----------------------------------------------------- template rendering

// Renders a template with the subset of Terraform's template language the
// region module's templates are limited to (see their headers): ${a.b.c},
// join("sep", a.b), base64encode(a.b), $${ and %%{ escapes, and
// "%{ for x in a.b ~}" / "%{ endfor ~}" alone on their lines.
function render(tpl, vars, name) {
    const lines = tpl.split(/(?<=\n)/);
    let pos = 0;
    const lookup = (expr, scope) => {
        const parts = expr.trim().split(".");
        if (!(parts[0] in scope)) throw new Error(`${name}: ${parts[0]} is not a template variable`);
        let v = scope[parts[0]];
        for (const p of parts.slice(1)) {
            if (v === null || typeof v !== "object" || !(p in v)) throw new Error(`${name}: ${expr.trim()}: no attribute ${p}`);
            v = v[p];
        }
        return v;
    };
    const scalar = (v, expr) => {
        if (typeof v === "string") return v;
        if (typeof v === "number" || typeof v === "boolean") return String(v);
        throw new Error(`${name}: \${${expr}} is not a string, number or bool`);
    };
    const evaluate = (expr, scope) => {
        let mm;
        if ((mm = /^\s*join\(\s*"([^"]*)"\s*,\s*([\w.]+)\s*\)\s*$/.exec(expr))) {
            return lookup(mm[2], scope).map((x) => scalar(x, expr)).join(mm[1]);
        }
        if ((mm = /^\s*base64encode\(\s*([\w.]+)\s*\)\s*$/.exec(expr))) {
            return Buffer.from(scalar(lookup(mm[1], scope), expr), "utf8").toString("base64");
        }
        if (/^\s*[A-Za-z_][\w.]*\s*$/.test(expr)) return scalar(lookup(expr, scope), expr);
        throw new Error(`${name}: \${${expr}} is outside what this renderer supports`);
    };
    const text = (line, scope) => {
        let out = "";
        for (let i = 0; i < line.length; ) {
            if (line.startsWith("$${", i) || line.startsWith("%%{", i)) {
                out += line[i] + "{";
                i += 3;
            } else if (line.startsWith("${", i)) {
                const end = line.indexOf("}", i);
                if (end < 0) throw new Error(`${name}: unterminated \${`);
                out += evaluate(line.slice(i + 2, end), scope);
                i = end + 1;
            } else if (line.startsWith("%{", i)) {
                throw new Error(`${name}: directive "${line.trim()}" must stand alone on its line as %{ for x in list ~} or %{ endfor ~}`);
            } else {
                out += line[i++];
            }
        }
        return out;
    };
    const block = (scope, inFor) => {
        let out = "";
        while (pos < lines.length) {
            const line = lines[pos++];
            let mm;
            if ((mm = /^%\{ for (\w+) in ([\w.]+) ~\}\n?$/.exec(line))) {
                const list = lookup(mm[2], scope);
                if (!Array.isArray(list)) throw new Error(`${name}: ${mm[2]} is not a list`);
                const start = pos;
                if (list.length === 0) {
                    // Skip the body: up to the matching endfor.
                    for (let depth = 1; depth > 0; pos++) {
                        if (pos >= lines.length) throw new Error(`${name}: for without endfor`);
                        if (/^%\{ for /.test(lines[pos])) depth++;
                        else if (/^%\{ endfor ~\}/.test(lines[pos])) depth--;
                    }
                    continue;
                }
                for (const item of list) {
                    pos = start;
                    out += block({ ...scope, [mm[1]]: item }, true);
                }
            } else if (/^%\{ endfor ~\}\n?$/.test(line)) {
                if (!inFor) throw new Error(`${name}: endfor without for`);
                return out;
            } else {
                out += text(line, scope);
            }
        }
        if (inFor) throw new Error(`${name}: for without endfor`);
        return out;
    };
    return block(vars, false);
}

// The names a templatefile() call on file passes, from the module's source.
function templateKeys(mod, file) {
    for (const [, s] of mod.exprs) {
        const i = s.indexOf(`templatefile("\${path.module}/${file}"`);
        if (i < 0) continue;
        const open = s.indexOf("{", i + 20 + file.length);
        let depth = 0;
        for (let k = open; k < s.length; k++) {
            if (s[k] === "{") depth++;
            else if (s[k] === "}" && --depth === 0) {
                return [...s.slice(open + 1, k).matchAll(/^\s*(\w+)\s*=/gm)].map((x) => x[1]).sort();
            }
        }
    }
    return null;
}

// Defaults of the region module's variables that the example leaves alone.
const regionVarsJson = await parseHcl("variables.tf", fs.readFileSync(path.join(regionDir, "variables.tf"), "utf8"));
const def = (v) => regionVarsJson.variable[v][0].default;

// modules/region/main.tf and instances.tf, as computed for the example.
const regions = [tfvars.region_a, tfvars.region_b, tfvars.region_c];
const members = regions.flatMap((r) => r.nodes.map((n) => ({ id: n.id, region: r.name, subnet: n.subnet, private_ip: n.private_ip })));
// The example passes its own ports (shared/cluster.tf), else the defaults.
const sharedLocals = (await parseHcl("cluster.tf", fs.readFileSync(path.join(exampleDir, "shared", "cluster.tf"), "utf8"))).locals?.[0] ?? {};
const raftPort = sharedLocals.raft_port ?? def("raft_port");
const apiPort = sharedLocals.api_port ?? def("api_port");
const templateMembers = members.map((m) => ({
    id: m.id,
    region: m.region,
    raft_address: `${m.private_ip}:${raftPort}`,
    api_address: `${m.private_ip}:${apiPort}`,
}));
const templateRegions = regions.map((r) => ({
    name: r.name,
    priority: r.priority,
    dns_targets: r.dns_targets.join(", "),
    object_store: `s3://${r.bucket}/${def("backup_prefix")}?region=${r.aws_region}`,
}));
const testToken = "terraform-check-" + "x".repeat(32);
const fenceHook = tfvars.fence_hook ?? def("fence_hook");

function iniVars(m, join) {
    return {
        node_id: m.id,
        region: m.region,
        raft_address: `${m.private_ip}:${raftPort}`,
        api_address: `${m.private_ip}:${apiPort}`,
        log_level: def("log_level"),
        join,
        primary_region: tfvars.primary_region,
        members: templateMembers,
        regions: templateRegions,
        ...serviceVars(m.region),
        api_lines: [], // tokens are secrets: never in tfvars (terraform test sets some)
        tls_lines: [], // TLS keys too (terraform test turns TLS on)
    };
}

// [services] and [probes] lines of a region, as modules/region's locals
// build them (terraform test compares the real output: tests/*.tftest.hcl).
function serviceVars(regionName) {
    const r = regions.find((x) => x.name === regionName) ?? {};
    const svc = { pg: "", redis: "", app_url: "", pg_standby: "", wal_copies: "", ...(r.services ?? {}) };
    const interval = tfvars.probe_interval_ms ?? 5000;
    return {
        service_lines: [svc.pg ? `pg = ${svc.pg}` : "", svc.redis ? `redis = ${svc.redis}` : "",
                        svc.pg_standby ? `pg_standby = ${svc.pg_standby}` : "",
                        svc.wal_copies ? `wal_copies = ${svc.wal_copies}` : ""].filter((x) => x),
        probe_lines: [`interval_ms = ${interval}`, `timeout_ms = ${Math.min(2000, Math.floor(interval / 2))}`,
                      svc.app_url ? `app_url = ${svc.app_url}` : ""].filter((x) => x),
    };
}

function cloudInitVars(m, ini) {
    return {
        hostname: `${tfvars.cluster_name}-${m.region}-${m.id}`,
        package_url: tfvars.package_url,
        package_sha256: tfvars.package_sha256,
        config_b64: Buffer.from(ini).toString("base64"),
        token_parameter: `/${tfvars.cluster_name}/${m.region}/drnode-token`,
        tokens_parameter: "",
        aws_region: regions.find((r) => r.name === m.region).aws_region,
        fence_hook_b64: Buffer.from(fenceHook).toString("base64"),
        tls_key_param: "",
        tls_ca_b64: "",
        tls_cert_b64: "",
    };
}

// The example's own sanity: 2/2/1, addresses inside their subnets.
function ipNum(ip) {
    const p = ip.split(".").map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
    return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}
function inCidr(ip, cidr) {
    const [base, bits] = cidr.split("/");
    const size = 2 ** (32 - Number(bits));
    const b = ipNum(base), n = ipNum(ip);
    if (b === null || n === null) return null;
    const off = n - b;
    return off >= 0 && off < size ? off : null;
}
{
    const before = problems.length;
    const counts = regions.map((r) => r.nodes.length).sort();
    if (members.length !== 5 || counts.join("/") !== "1/2/2") problem(`example: want five voters spread 2/2/1, have ${counts.join("/")}`);
    for (const r of regions) {
        for (const s of r.subnet_cidrs) if (inCidr(s.split("/")[0], r.vpc_cidr) === null) problem(`example: ${r.name}: subnet ${s} is outside ${r.vpc_cidr}`);
        for (const n of r.nodes) {
            const s = r.subnet_cidrs[n.subnet];
            const off = s ? inCidr(n.private_ip, s) : null;
            const size = s ? 2 ** (32 - Number(s.split("/")[1])) : 0;
            if (off === null || off < 4 || off === size - 1) {
                problem(`example: member ${n.id}: ${n.private_ip} is not a usable address of subnet ${n.subnet} (${s})`);
            }
        }
    }
    for (let i = 0; i < regions.length; i++) {
        for (let k = i + 1; k < regions.length; k++) {
            const a = regions[i].vpc_cidr, b = regions[k].vpc_cidr;
            if (inCidr(a.split("/")[0], b) !== null || inCidr(b.split("/")[0], a) !== null) {
                problem(`example: VPCs ${a} and ${b} overlap (they are peered)`);
            }
        }
    }
    if (problems.length === before) ok("example: five voters 2/2/1, each at a usable address of its subnet, VPCs disjoint");
}

// The module passes what this check computes, no more, no less.
{
    const before = problems.length;
    const want = {
        "drnode.ini.tftpl": Object.keys(iniVars(members[0], false)).sort(),
        "cloud-init.yaml.tftpl": Object.keys(cloudInitVars(members[0], "")).sort(),
    };
    for (const [f, keys] of Object.entries(want)) {
        const got = templateKeys(regionMod, f);
        if (!got) problem(`modules/region: no templatefile() call on ${f}`);
        else if (got.join(",") !== keys.join(",")) {
            problem(`modules/region: templatefile(${f}) passes ${got.join(", ")}; terraform/check/check.mjs computes ${keys.join(", ")}: update one of them`);
        }
    }
    if (problems.length === before) ok("modules/region's templatefile() calls pass exactly the values this check renders with");
}

// A small INI reader: section -> {key: value}, in order.
function readIni(text) {
    const out = {};
    let sec = null;
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
        const h = /^\[(.+)\]$/.exec(line);
        if (h) {
            sec = h[1];
            out[sec] = {};
            continue;
        }
        const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
        if (kv && sec) out[sec][kv[1]] = kv[2];
    }
    return out;
}

const drnode = opts.drnode;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "terraform-check-"));
const tplDir = regionDir;
const iniTpl = fs.readFileSync(path.join(tplDir, "drnode.ini.tftpl"), "utf8");
const ciTpl = fs.readFileSync(path.join(tplDir, "cloud-init.yaml.tftpl"), "utf8");

function checkConfig(label, ini) {
    const dir = fs.mkdtempSync(path.join(tmp, "node-"));
    const token = path.join(dir, "token");
    fs.writeFileSync(token, testToken + "\n", { mode: 0o600 });
    fs.chmodSync(token, 0o600);
    // The one change: the token file is where this check can write it.
    const local = ini.replace(/^token_file = \/etc\/drnode\/token$/m, `token_file = ${token}`);
    if (local === ini) return problem(`${label}: no "token_file = /etc/drnode/token" line`);
    const f = path.join(dir, "drnode.ini");
    fs.writeFileSync(f, local, { mode: 0o600 });
    const r = spawnSync(drnode, ["--check-config", f], { encoding: "utf8" });
    if (r.status !== 0) problem(`${label}: drnode --check-config refuses it:\n${(r.stderr + r.stdout).trim()}`);
}

const rendered = {};
let renderErr = null;
try {
    for (const m of members) {
        const ini = render(iniTpl, iniVars(m, false), "drnode.ini.tftpl");
        const ci = render(ciTpl, cloudInitVars(m, ini), "cloud-init.yaml.tftpl");
        rendered[m.id] = { ini, ci, iniJoin: render(iniTpl, iniVars(m, true), "drnode.ini.tftpl") };
    }
} catch (e) {
    renderErr = e.message;
    problem(`rendering: ${e.message}`);
}

if (!renderErr) {
    const before = problems.length;
    const shared = new Set();
    for (const m of members) {
        const label = `node ${m.id} (${m.region})`;
        const { ini, ci } = rendered[m.id];
        if (!ci.startsWith("#cloud-config\n")) problem(`${label}: user data does not start with #cloud-config`);
        if (Buffer.byteLength(ci) > 16384) problem(`${label}: user data is ${Buffer.byteLength(ci)} bytes; EC2 takes at most 16384`);
        let doc;
        try {
            doc = YAML.parse(ci, { strict: true, uniqueKeys: true });
        } catch (e) {
            problem(`${label}: cloud-init is not valid YAML: ${e.message.split("\n")[0]}`);
            continue;
        }
        const files = Object.fromEntries((doc.write_files ?? []).map((w) => [w.path, w]));
        const want = { "/etc/drnode/drnode.ini": "0600", "/etc/drnode/fence-hook": "0700" };
        if (files["/etc/drnode/token"]) problem(`${label}: cloud-init writes the token: it must come from SSM, not the user data`);
        for (const [p, mode] of Object.entries(want)) {
            if (!files[p]) problem(`${label}: cloud-init does not write ${p}`);
            else if (files[p].permissions !== mode) problem(`${label}: ${p} is written with mode ${files[p].permissions}, want ${mode}`);
        }
        const decode = (p) => Buffer.from(files[p]?.content ?? "", "base64").toString("utf8");
        if (decode("/etc/drnode/drnode.ini") !== ini) problem(`${label}: drnode.ini in cloud-init differs from the rendered config`);
        if (ci.includes(testToken) || ci.includes(Buffer.from(testToken).toString("base64"))) problem(`${label}: the token appears in the user data`);
        const cmds = JSON.stringify(doc.runcmd ?? []);
        for (const need of ["sha256sum", "--check-config", "enable", "ssm get-parameter"]) {
            if (!cmds.includes(need)) problem(`${label}: runcmd lacks ${need}`);
        }
        if (/^[^;#\n]*[$%]\{/m.test(ini)) problem(`${label}: drnode.ini holds an unrendered template sequence`);
        const parsed = readIni(ini);
        const node = parsed.node ?? {};
        const self = parsed[`member.${m.id}`];
        if (!self || self.region !== node.region || self.raft_address !== node.raft_address || self.api_address !== node.api_address) {
            problem(`${label}: [node] does not match its own [member.${m.id}]`);
        }
        const memberSecs = Object.keys(parsed).filter((s) => s.startsWith("member."));
        if (memberSecs.length !== 5) problem(`${label}: ${memberSecs.length} [member.*] sections, want 5`);
        const perRegion = new Set(["node", "services", "probes"]);
        const sharedPart = JSON.stringify(Object.entries(parsed).filter(([s]) => !perRegion.has(s)));
        shared.add(sharedPart);
        if (drnode) {
            checkConfig(`${label}, first boot (join = false)`, ini);
            checkConfig(`${label}, replacement (join = true)`, rendered[m.id].iniJoin);
        }
    }
    if (shared.size !== 1) problem(`the five configs differ outside [node]: their bootstrap member lists or regions disagree`);
    if (problems.length === before) {
        ok("cloud-init for each of the 5 nodes is valid YAML, writes drnode.ini 0600 and the fence hook 0700, and holds no token (read from SSM)");
        ok("the 5 configs agree on [bootstrap], [member.*] and [region.*]; each [node] matches its member entry");
        if (drnode) ok(`drnode --check-config accepts all 5 configs, as first boot and as replacement (${path.basename(drnode)})`);
    }
    if (!drnode) console.log("  SKIPPED: drnode --check-config (no --drnode given)");
    runcmdFailsClosed(rendered[members[0].id].ci);
    if (opts.keep) {
        fs.mkdirSync(opts.keep, { recursive: true });
        for (const m of members) {
            fs.writeFileSync(path.join(opts.keep, `node-${m.id}.ini`), rendered[m.id].ini);
            fs.writeFileSync(path.join(opts.keep, `node-${m.id}.cloud-init.yaml`), rendered[m.id].ci);
        }
    }
}

// cloud-init's runcmd as cloud-init runs it (each entry one line of a
// /bin/sh script, no "set -e": a failing entry does not stop the next),
// with curl, apt-get, chown, chmod, runuser and systemctl replaced by stubs
// that log their calls, in a scratch directory. A download whose checksum
// is wrong must install nothing and start nothing; the right one installs,
// checks the config and enables the unit.
function runcmdFailsClosed(ci) {
    const before = problems.length;
    const doc = YAML.parse(ci);
    const q = (a) => "'" + String(a).replace(/'/g, "'\\''") + "'";
    // Arguments after the token parameter: tokens, TLS key parameter, CA
    // and node certificate (base64), "" when off; run() may set them.
    const scriptWith = (extra) => "#!/bin/sh\n" + (doc.runcmd ?? []).map((c) => {
        if (!Array.isArray(c)) return c;
        const args = [...c];
        const t = args.findIndex((a) => String(a).endsWith("/drnode-token"));
        extra.forEach((v, i) => { if (t >= 0 && v !== undefined) args[t + 1 + i] = v; });
        return args.map(q).join(" ");
    }).join("\n") + "\n";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-check-runcmd-"));
    try {
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.mkdirSync(path.join(dir, "var-tmp"));
        const log = path.join(dir, "calls");
        fs.mkdirSync(path.join(dir, "etc"));
        for (const c of ["apt-get", "chown", "chmod", "runuser", "systemctl"]) {
            fs.writeFileSync(path.join(bin, c), `#!/bin/sh\necho "${c} $*" >>${q(log)}\n`, { mode: 0o755 });
        }
        // curl writes a fake package to its -o argument.
        fs.writeFileSync(path.join(bin, "curl"), `#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = -o ]; then printf 'fake deb' >"$2"; fi; shift; done\necho "curl" >>${q(log)}\n`, { mode: 0o755 });
        // aws ssm get-parameter prints the token (or fails, with AWS_FAILS).
        fs.writeFileSync(path.join(bin, "aws"), `#!/bin/sh\necho "aws $*" >>${q(log)}\n[ -z "$AWS_FAILS" ] || exit 255\necho token-from-ssm\n`, { mode: 0o755 });
        const realSum = spawnSync("sh", ["-c", "printf 'fake deb' | sha256sum | cut -d' ' -f1"], { encoding: "utf8" }).stdout.trim();
        const tokenFile = path.join(dir, "etc", "token");
        const tokensFile = path.join(dir, "etc", "tokens");
        const tlsDir = path.join(dir, "etc", "tls");
        const run = (sum, env = {}, tokensParam = "", tls = []) => {
            fs.rmSync(log, { force: true });
            fs.rmSync(tokenFile, { force: true });
            fs.rmSync(tokensFile, { force: true });
            fs.rmSync(tlsDir, { recursive: true, force: true });
            const text = scriptWith([tokensParam || undefined, ...tls])
                .replaceAll("/var/tmp/", path.join(dir, "var-tmp") + "/")
                .replaceAll("/etc/drnode/", path.join(dir, "etc") + "/").replaceAll(tfvars.package_sha256, sum);
            const f = path.join(dir, "runcmd");
            fs.writeFileSync(f, text, { mode: 0o755 });
            const r = spawnSync("sh", [f], { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin`, ...env } });
            const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
            return { status: r.status, calls, stderr: r.stderr };
        };
        const bad = run("0".repeat(64));
        if (bad.status === 0) problem("cloud-init runcmd: a package with the wrong SHA-256 still ends with status 0");
        for (const c of ["apt-get", "runuser", "systemctl"]) {
            if (bad.calls.includes(c)) problem(`cloud-init runcmd does not fail closed: after a failed checksum it ran ${c} (calls: ${bad.calls.trim().split("\n").join("; ")})`);
        }
        const noToken = run(realSum, { AWS_FAILS: "1" });
        if (noToken.status === 0 || noToken.calls.includes("systemctl")) problem("cloud-init runcmd starts drnode although reading the token from SSM failed");
        const fine = run(realSum);
        if (fine.status !== 0) problem(`cloud-init runcmd fails with the right checksum: ${fine.stderr.trim()}`);
        if (!fine.calls.includes("aws ssm get-parameter --region ")) problem("cloud-init runcmd does not read the token from SSM");
        if (!fs.existsSync(tokenFile) || fs.readFileSync(tokenFile, "utf8") !== "token-from-ssm\n") problem("cloud-init runcmd does not write the token it read from SSM");
        else if ((fs.statSync(tokenFile).mode & 0o077) !== 0) problem("cloud-init runcmd writes the token readable by group or others");
        if (fs.existsSync(tokensFile)) problem("cloud-init runcmd writes a tokens file without api_tokens");
        const withTokens = run(realSum, {}, "/cluster/region/drnode-tokens");
        if (withTokens.status !== 0 || !withTokens.calls.includes("--name /cluster/region/drnode-tokens")) problem("cloud-init runcmd does not read the tokens file from SSM when api_tokens are set");
        else if (!fs.existsSync(tokensFile) || (fs.statSync(tokensFile).mode & 0o077) !== 0) problem("cloud-init runcmd does not write the tokens file 0600");
        for (const c of ["apt-get install", "runuser -u drnode -- /usr/bin/drnode --check-config", "systemctl enable --now drnode.service"]) {
            if (!fine.calls.includes(c)) problem(`cloud-init runcmd with the right checksum never ran "${c}"`);
        }
        if (fs.existsSync(tlsDir)) problem("cloud-init runcmd writes TLS files without TLS");
        const b64 = (t) => Buffer.from(t).toString("base64");
        const ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
        const cert = "-----BEGIN CERTIFICATE-----\nNODE\n-----END CERTIFICATE-----\n";
        const tlsArgs = ["/cluster/region/drnode-tls-key-1", b64(ca), b64(cert)];
        const withTls = run(realSum, {}, "", tlsArgs);
        const keyFile = path.join(tlsDir, "node.key");
        if (withTls.status !== 0 || !withTls.calls.includes("--name /cluster/region/drnode-tls-key-1")) problem(`cloud-init runcmd does not read the TLS key from SSM: ${withTls.stderr.trim()}`);
        else if (!fs.existsSync(keyFile) || (fs.statSync(keyFile).mode & 0o077) !== 0) problem("cloud-init runcmd does not write the TLS key 0600");
        else if (fs.readFileSync(path.join(tlsDir, "ca.crt"), "utf8") !== ca || fs.readFileSync(path.join(tlsDir, "node.crt"), "utf8") !== cert) problem("cloud-init runcmd does not write the CA and node certificates it was given");
        const noKey = run(realSum, { AWS_FAILS: "1" }, "", tlsArgs);
        if (noKey.status === 0 || noKey.calls.includes("systemctl")) problem("cloud-init runcmd starts drnode although reading the TLS key from SSM failed");
        if (problems.length === before) ok("cloud-init fails closed: a wrong package checksum installs and starts nothing, no token (or TLS key) from SSM starts nothing; otherwise it installs, writes the token 0600 (and with TLS the certificates and the key 0600), checks the config, enables drnode");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// Terraform's own templatefile() on node 1's values, when there is a
// terraform: the renderer above must agree with it.
if (opts.terraform && !renderErr) {
    const dir = fs.mkdtempSync(path.join(tmp, "console-"));
    const m = members[0];
    const pairs = [
        ["drnode.ini.tftpl", iniVars(m, false), rendered[m.id].ini],
        ["cloud-init.yaml.tftpl", cloudInitVars(m, rendered[m.id].ini), rendered[m.id].ci],
    ];
    const before = problems.length;
    let skipped = false;
    for (const [f, vars, mine] of pairs) {
        const vf = path.join(dir, f + ".json");
        fs.writeFileSync(vf, JSON.stringify(vars));
        const expr = `base64encode(templatefile(${JSON.stringify(path.join(tplDir, f))}, jsondecode(file(${JSON.stringify(vf)}))))\n`;
        const r = spawnSync(opts.terraform, ["console"], { cwd: dir, input: expr, encoding: "utf8" });
        const out = /"([A-Za-z0-9+/=]*)"/.exec(r.stdout ?? "");
        if (r.status !== 0 || !out) {
            console.log(`  SKIPPED: comparing with terraform's templatefile(): terraform console failed: ${(r.stderr ?? "").trim().split("\n").pop()}`);
            skipped = true;
            break;
        }
        const theirs = Buffer.from(out[1], "base64").toString("utf8");
        if (theirs !== mine) problem(`${f}: this check's rendering differs from terraform's templatefile() for node ${m.id}`);
    }
    if (!skipped && problems.length === before) ok("terraform's templatefile() renders node 1's templates exactly as this check does");
}

fs.rmSync(tmp, { recursive: true, force: true });

for (const p of problems) console.log(`  FAIL: ${p}`);
console.log(`terraform-check (offline): ${passed} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
