#!/usr/bin/env python3
"""Regenerate responses.json and requests.json from GitHub's OpenAPI description (see PROVENANCE.md).

Usage: python3 extract.py path/to/api.github.com.json
"""
import json
import os
import sys

RESPONSES = [
    "apps/create-installation-access-token",
    "apps/get-installation",
    "apps/list-webhook-deliveries",
    "apps/redeliver-webhook-delivery",
    "repos/compare-commits-with-basehead",
    "repos/get-commit",
    "git/get-tree",
    "checks/list-for-ref",
    "checks/create",
    "checks/update",
    "apps/get-authenticated",
    "apps/list-installations",
    "apps/get-webhook-config-for-app",
    "apps/create-from-manifest",
    "users/get-authenticated",
    "orgs/get-membership-for-authenticated-user",
    "teams/get-membership-for-user-in-org",
    "repos/get",
    "repos/create-using-template",
    "repos/add-collaborator",
]
REQUESTS = ["checks/create", "checks/update", "repos/create-using-template", "repos/add-collaborator"]
COMMENT = (
    "{what} schemas of the GitHub REST API endpoints labtrail {does}, extracted unchanged from GitHub's "
    "OpenAPI description (see PROVENANCE.md) except: OpenAPI 3.0 `nullable` written as a JSON Schema null "
    "type, `#/components/schemas/X` as `#/definitions/X`, examples dropped."
)


def main(src):
    d = json.load(open(src))
    comps = d["components"]["schemas"]

    def conv(s):
        if isinstance(s, list):
            return [conv(x) for x in s]
        if not isinstance(s, dict):
            return s
        out = {}
        for k, v in s.items():
            if k in ("example", "examples"):
                continue
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                out[k] = "#/definitions/" + v.split("/")[-1]
            elif k in ("properties", "patternProperties"):
                out[k] = {pk: conv(pv) for pk, pv in v.items()}
            else:
                out[k] = conv(v)
        if out.pop("nullable", False):
            if "type" in out:
                t = out["type"]
                out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
                if "enum" in out and None not in out["enum"]:
                    out["enum"] = out["enum"] + [None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out

    def refs(s, acc):
        if isinstance(s, dict):
            for k, v in s.items():
                if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                    n = v.split("/")[-1]
                    if n not in acc:
                        acc.add(n)
                        refs(comps[n], acc)
                else:
                    refs(v, acc)
        elif isinstance(s, list):
            for x in s:
                refs(x, acc)

    ops = {}
    for p, item in d["paths"].items():
        for m, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = (m.upper(), p, op)

    def erratum(oid, schema):
        # apps/list-installations inlines the installation with `account` as `allOf` [Simple User,
        # Enterprise], where the `installation` component (apps/get-installation) has `anyOf`: an account
        # is a user or organization, or an enterprise, never both. Read as `anyOf`, like the component.
        if oid == "apps/list-installations":
            account = schema["items"]["properties"]["account"]
            account["anyOf"] = account.pop("allOf")
        return schema

    here = os.path.dirname(os.path.abspath(__file__))

    def write(name, doc):
        with open(os.path.join(here, name), "w") as f:
            f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")

    eps, acc = {}, set()
    for oid in RESPONSES:
        m, p, op = ops[oid]
        st = next(k for k in op["responses"] if k.startswith("2"))
        r = op["responses"][st]
        if "$ref" in r:
            r = d["components"]["responses"][r["$ref"].split("/")[-1]]
        s = erratum(oid, json.loads(json.dumps(r["content"]["application/json"]["schema"])))
        refs(s, acc)
        eps[oid] = {"method": m, "path": p, "status": int(st), "schema": conv(s)}
    write("responses.json", {
        "$comment": COMMENT.format(what="Response", does="calls"),
        "endpoints": eps,
        "definitions": {n: conv(comps[n]) for n in sorted(acc)},
    })

    eps, acc = {}, set()
    for oid in REQUESTS:
        m, p, op = ops[oid]
        s = op["requestBody"]["content"]["application/json"]["schema"]
        refs(s, acc)
        eps[oid] = {"method": m, "path": p, "schema": conv(s)}
    write("requests.json", {
        "$comment": COMMENT.format(what="Request body", does="sends a body to"),
        "endpoints": eps,
        "definitions": {n: conv(comps[n]) for n in sorted(acc)},
    })


if __name__ == "__main__":
    main(sys.argv[1])
