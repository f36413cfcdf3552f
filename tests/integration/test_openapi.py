"""The OpenAPI contract, contrib/openapi.yaml, kept true.

Static checks (no daemon): the document is a well-formed OpenAPI 3.0
document (required members, every $ref resolves, path templates and path
parameters agree, schema keywords are real ones, examples and defaults fit
their schemas); its operations are exactly the routes declared in the route
tables of src/api_*.c (method and path, {id} for :id), with the same roles
(x-roles), security schemes that admit those roles, an Idempotency-Key
parameter exactly where the route honours one, a text/calendar body exactly
where the route takes a raw body, and the query parameters the handlers
read; every problem type it names exists in the sources.

Against a running daemon: every documented operation exists (anything but
"no such endpoint"; without credentials a protected route answers 401), a
method the document does not list gets 405 with the documented methods in
Allow, and the answers of a walk through every operation fit the schemas the
document gives for them.
"""

import functools
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

import helpers
from util_api import (SRC_DIR, assert_problem, booking, hour_slot, parse_routes,
                      role_names, unique_name, unique_phone)

DOC_PATH = helpers.REPO_ROOT / "contrib" / "openapi.yaml"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROLE_ORDER = ("public", "customer", "feed", "agent", "lead", "admin")
STAFF_ROLES = {"agent", "lead", "admin"}
# The components every client leans on.
CORE_SCHEMAS = ("Callback", "Agent", "Key", "Slot", "QueueItem", "Case", "TimelineEntry",
                "Handoff", "HandoffPlan", "Message", "Shift", "TimeOff", "Problem")

ROUTES = parse_routes()


@functools.lru_cache(maxsize=None)
def load_doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def c_path(template):
    """/v1/agents/{id}/time-off/{tid} -> /v1/agents/:id/time-off/:tid"""
    return re.sub(r"\{([^}/]+)\}", r":\1", template)


def doc_operations(doc=None):
    """{(METHOD, c_path): (template, operation)} of the document."""
    doc = doc or load_doc()
    ops = {}
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[(method.upper(), c_path(template))] = (template, op)
    return ops


def resolve(doc, node):
    """node with its $ref (if any) followed, repeatedly."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref not in seen, f"$ref cycle at {ref}"
        seen.add(ref)
        node = ref_target(doc, ref)
    return node


def ref_target(doc, ref):
    assert isinstance(ref, str) and ref.startswith("#/"), f"not a local $ref: {ref!r}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def op_parameters(doc, template, op):
    """The operation's parameters (path-level ones included), resolved."""
    params = {}
    for p in doc["paths"][template].get("parameters", []) + op.get("parameters", []):
        p = resolve(doc, p)
        params[(p["in"], p["name"])] = p
    return params


# --------------------------------------------------------------------------
# A small validator for the subset of OpenAPI 3.0 schemas the document uses.

_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def schema_errors(doc, schema, value, where="$"):
    errors = []
    _validate(doc, schema, value, where, errors)
    return errors


def _nullable(doc, s):
    s = resolve(doc, s)
    return bool(s.get("nullable")) or any(_nullable(doc, x) for x in s.get("allOf", []))


def _validate(doc, s, v, where, errors):
    s = resolve(doc, s)
    if v is None:
        constrained = any(k in s for k in ("type", "allOf", "oneOf", "anyOf", "enum"))
        if constrained and not _nullable(doc, s):
            errors.append(f"{where}: null where the schema does not allow it")
        return
    for sub in s.get("allOf", []):
        _validate(doc, sub, v, where, errors)
    if "oneOf" in s:
        n = sum(1 for sub in s["oneOf"] if not schema_errors(doc, sub, v, where))
        if n != 1:
            errors.append(f"{where}: {v!r} matches {n} of oneOf, not exactly one")
    if "anyOf" in s and not any(not schema_errors(doc, sub, v, where) for sub in s["anyOf"]):
        errors.append(f"{where}: {v!r} matches none of anyOf")
    t = s.get("type")
    if t is not None and not _JSON_TYPES[t](v):
        errors.append(f"{where}: {v!r} is not of type {t}")
        return
    if "enum" in s and v not in s["enum"]:
        errors.append(f"{where}: {v!r} not one of {s['enum']}")
    if isinstance(v, str):
        if "pattern" in s and not re.search(s["pattern"], v):
            errors.append(f"{where}: {v!r} does not match {s['pattern']!r}")
        if s.get("format") == "date-time" and not _DATE_TIME_RE.match(v):
            errors.append(f"{where}: {v!r} is not an RFC 3339 time")
        if "maxLength" in s and len(v) > s["maxLength"]:
            errors.append(f"{where}: longer than {s['maxLength']}")
        if "minLength" in s and len(v) < s["minLength"]:
            errors.append(f"{where}: shorter than {s['minLength']}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            errors.append(f"{where}: {v} < minimum {s['minimum']}")
        if "maximum" in s and v > s["maximum"]:
            errors.append(f"{where}: {v} > maximum {s['maximum']}")
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"]:
            errors.append(f"{where}: fewer than {s['minItems']} items")
        if "maxItems" in s and len(v) > s["maxItems"]:
            errors.append(f"{where}: more than {s['maxItems']} items")
        if "items" in s:
            for i, x in enumerate(v):
                _validate(doc, s["items"], x, f"{where}[{i}]", errors)
    if isinstance(v, dict):
        props = s.get("properties", {})
        for name in s.get("required", []):
            if name not in v:
                errors.append(f"{where}: required member {name!r} missing")
        for name, x in v.items():
            if name in props:
                _validate(doc, props[name], x, f"{where}.{name}", errors)
            elif s.get("additionalProperties") is False:
                errors.append(f"{where}: member {name!r} not allowed")
            elif isinstance(s.get("additionalProperties"), dict):
                _validate(doc, s["additionalProperties"], x, f"{where}.{name}", errors)
        if "minProperties" in s and len(v) < s["minProperties"]:
            errors.append(f"{where}: fewer than {s['minProperties']} members")


# --------------------------------------------------------------------------
# What the C sources say beyond the route tables: which query parameters a
# route's handlers read, whether they page, and the problem types that exist.

_TABLE_ROW_RE = re.compile(
    r"\{\s*EVHTTP_REQ_([A-Z]+)\s*,\s*\"([^\"]+)\"\s*,[^{}\"]*?\"[^\"]+\"\s*,"
    r"\s*([A-Za-z0-9_]+)\s*,\s*([A-Za-z0-9_]+)\s*\}")
_FUNC_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(([^;{}]*?)\)\s*\{(.*?)^\}", re.M | re.S)
_CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_QUERY_RE = re.compile(r"\bhttp_query\s*\(\s*[A-Za-z_][A-Za-z0-9_>.-]*\s*,\s*\"([^\"]+)\"\s*\)")
_PROBLEM_RE = re.compile(
    r"\b(?:cbd_err_set|http_fail)\s*\(\s*[^,]+,\s*(\d{3})\s*,\s*\"([a-z0-9-]+)\"", re.S)


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


@functools.lru_cache(maxsize=None)
def handler_facts():
    """{(METHOD, path): (query names read, uses api_page_parse)} from the
    functions a route's parse and work reach within its own file."""
    facts = {}
    for path in sorted(Path(SRC_DIR).glob("api_*.c")):
        text = _strip_comments(path.read_text())
        funcs = {m.group(1): m.group(3) for m in _FUNC_RE.finditer(text)}
        for m in _TABLE_ROW_RE.finditer(text):
            method, rpath, parse_fn, work_fn = m.groups()
            seen, todo = set(), [f for f in (parse_fn, work_fn) if f != "NULL"]
            while todo:
                f = todo.pop()
                if f in seen or f not in funcs:
                    continue
                seen.add(f)
                todo.extend(c for c in _CALL_RE.findall(funcs[f]) if c in funcs)
            bodies = "\n".join(funcs[f] for f in seen)
            calls = _CALL_RE.findall(bodies)
            # api_tz_parse (api_tz.c) reads ?tz= for the lists that take it.
            facts[(method, rpath)] = (frozenset(_QUERY_RE.findall(bodies)) |
                                      ({"tz"} if "api_tz_parse" in calls else set()),
                                      "api_page_parse" in calls)
    return facts


@functools.lru_cache(maxsize=None)
def problem_types_in_code():
    found = set()
    for path in sorted(Path(SRC_DIR).glob("*.c")):
        found |= {m.group(2) for m in _PROBLEM_RE.finditer(_strip_comments(path.read_text()))}
    return found


# --------------------------------------------------------------------------
# The document as an OpenAPI 3 document


def test_document_has_the_required_top_level_members():
    doc = load_doc()
    assert isinstance(doc, dict)
    assert re.match(r"^3\.0\.\d+$", str(doc.get("openapi"))), doc.get("openapi")
    info = doc.get("info")
    assert isinstance(info, dict) and info.get("title") and info.get("version")
    assert isinstance(doc.get("paths"), dict) and doc["paths"]
    assert "http://127.0.0.1:8080" in [s.get("url") for s in doc.get("servers", [])]
    allowed_top = {"openapi", "info", "servers", "paths", "components", "security", "tags",
                   "externalDocs"}
    extra = {k for k in doc if k not in allowed_top and not k.startswith("x-")}
    assert not extra, f"unknown top-level members {extra}"
    for name in CORE_SCHEMAS:
        assert name in doc["components"]["schemas"], f"components/schemas/{name} missing"


def _walk_refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield where, v
            else:
                yield from _walk_refs(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_refs(v, f"{where}/{i}")


def test_every_ref_resolves():
    doc = load_doc()
    refs = list(_walk_refs(doc))
    assert refs
    bad = []
    for where, ref in refs:
        try:
            ref_target(doc, ref)
        except AssertionError as e:
            bad.append(f"{where}: {e}")
    assert not bad, "\n".join(bad)


def test_every_component_is_used():
    doc = load_doc()
    used = {ref for _, ref in _walk_refs(doc)}
    unused = [f"#/components/{kind}/{name}"
              for kind, group in doc["components"].items() if kind != "securitySchemes"
              for name in group if f"#/components/{kind}/{name}" not in used]
    assert not unused, f"components nothing refers to: {unused}"


def test_operations_are_well_formed():
    doc = load_doc()
    problems, op_ids = [], {}
    schemes = doc["components"]["securitySchemes"]
    tags = {t["name"] for t in doc.get("tags", [])}
    for template, item in doc["paths"].items():
        if not template.startswith("/"):
            problems.append(f"{template}: path does not start with /")
        names_in_template = re.findall(r"\{([^}/]+)\}", template)
        for method, op in item.items():
            if method == "parameters" or method.startswith("x-"):
                continue
            where = f"{method.upper()} {template}"
            if method not in HTTP_METHODS:
                problems.append(f"{template}: {method!r} is not an HTTP method")
                continue
            for key in ("summary", "description", "operationId", "responses", "x-roles"):
                if not op.get(key):
                    problems.append(f"{where}: no {key}")
            if op.get("operationId") in op_ids:
                problems.append(f"{where}: operationId {op['operationId']} also on "
                                f"{op_ids[op['operationId']]}")
            op_ids[op.get("operationId")] = where
            for t in op.get("tags", []):
                if t not in tags:
                    problems.append(f"{where}: tag {t} not declared")
            params = op_parameters(doc, template, op)
            path_params = {name for (loc, name) in params if loc == "path"}
            if set(names_in_template) != path_params:
                problems.append(f"{where}: path parameters {sorted(path_params)} but "
                                f"template has {names_in_template}")
            for (loc, name), p in params.items():
                if loc not in ("path", "query", "header", "cookie"):
                    problems.append(f"{where}: parameter {name} in {loc}")
                if loc == "path" and p.get("required") is not True:
                    problems.append(f"{where}: path parameter {name} not required")
                if "schema" not in p and "content" not in p:
                    problems.append(f"{where}: parameter {name} has no schema")
            responses = op.get("responses", {})
            codes = [str(c) for c in responses]
            if not any(c.startswith("2") for c in codes):
                problems.append(f"{where}: no 2xx response")
            for code, resp in responses.items():
                if not re.match(r"^([1-5][0-9][0-9]|[1-5]XX|default)$", str(code)):
                    problems.append(f"{where}: response code {code!r}")
                resp = resolve(doc, resp)
                if not resp.get("description"):
                    problems.append(f"{where}: response {code} has no description")
                for ctype, media in resp.get("content", {}).items():
                    if "schema" not in media:
                        problems.append(f"{where}: response {code} {ctype} has no schema")
                if str(code).startswith(("4", "5")):
                    ctypes = list(resp.get("content", {}))
                    if ctypes != ["application/problem+json"]:
                        problems.append(f"{where}: error {code} is not problem+json: {ctypes}")
            body = op.get("requestBody")
            if body is not None:
                body = resolve(doc, body)
                if not body.get("content"):
                    problems.append(f"{where}: requestBody without content")
                for ctype, media in body.get("content", {}).items():
                    s = resolve(doc, media.get("schema", {}))
                    if ctype == "application/json" and s.get("additionalProperties") is not False:
                        problems.append(f"{where}: JSON body schema must say "
                                        "additionalProperties: false (unknown fields are refused)")
            for req in op.get("security", doc.get("security", [])):
                for name in req:
                    if name not in schemes:
                        problems.append(f"{where}: security scheme {name} not declared")
    assert not problems, "\n".join(problems)


_SCHEMA_KEYWORDS = {
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "enum", "type", "allOf", "oneOf", "anyOf",
    "not", "items", "properties", "additionalProperties", "description", "format", "default",
    "nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example",
    "deprecated", "$ref",
}


def _all_schemas(doc):
    """(where, schema) for every schema object in the document, nested ones too."""
    roots = [(f"#/components/schemas/{n}", s) for n, s in doc["components"]["schemas"].items()]

    def media_schemas(where, content):
        for ctype, media in (content or {}).items():
            if "schema" in media:
                yield f"{where}/{ctype}", media["schema"]

    for kind in ("parameters", "headers"):
        for n, p in doc["components"].get(kind, {}).items():
            if "schema" in p:
                roots.append((f"#/components/{kind}/{n}", p["schema"]))
    for n, r in doc["components"].get("responses", {}).items():
        roots += media_schemas(f"#/components/responses/{n}", r.get("content"))
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {template}"
            for p in op.get("parameters", []):
                if "schema" in p:
                    roots.append((f"{where} parameter {p.get('name')}", p["schema"]))
            if "requestBody" in op:
                roots += media_schemas(f"{where} body", op["requestBody"].get("content"))
            for code, resp in op.get("responses", {}).items():
                roots += media_schemas(f"{where} {code}", resp.get("content"))

    def walk(where, s):
        yield where, s
        for name, sub in s.get("properties", {}).items():
            yield from walk(f"{where}.{name}", sub)
        for key in ("allOf", "oneOf", "anyOf"):
            for i, sub in enumerate(s.get(key, [])):
                yield from walk(f"{where}/{key}/{i}", sub)
        for key in ("items", "not"):
            if isinstance(s.get(key), dict):
                yield from walk(f"{where}/{key}", s[key])
        if isinstance(s.get("additionalProperties"), dict):
            yield from walk(f"{where}/additionalProperties", s["additionalProperties"])

    for where, s in roots:
        yield from walk(where, s)


def test_schemas_use_only_openapi_keywords_and_are_consistent():
    doc = load_doc()
    problems = []
    schemas = list(_all_schemas(doc))
    assert len(schemas) > 100
    for where, s in schemas:
        if not isinstance(s, dict):
            problems.append(f"{where}: schema is not an object")
            continue
        unknown = {k for k in s if k not in _SCHEMA_KEYWORDS and not k.startswith("x-")}
        if unknown:
            problems.append(f"{where}: unknown schema keywords {sorted(unknown)}")
        if "type" in s and s["type"] not in _JSON_TYPES:
            problems.append(f"{where}: type {s['type']!r}")
        if s.get("type") == "array" and "items" not in s:
            problems.append(f"{where}: array without items")
        if "pattern" in s:
            try:
                re.compile(s["pattern"])
            except re.error as e:
                problems.append(f"{where}: pattern {s['pattern']!r}: {e}")
        if "properties" in s and "required" in s:
            missing = set(s["required"]) - set(s["properties"])
            if missing:
                problems.append(f"{where}: required names undefined members {sorted(missing)}")
        for enum_value in s.get("enum", []):
            # YAML 1.1 turns on/off/yes/no into booleans: enums here are strings.
            if s.get("type") == "string" and not isinstance(enum_value, str):
                problems.append(f"{where}: enum value {enum_value!r} is not a string")
        for key in ("example", "default"):
            if key in s and "$ref" not in s:
                errs = schema_errors(doc, s, s[key], f"{where} {key}")
                problems += errs
    assert not problems, "\n".join(problems)


def test_response_examples_fit_their_schemas():
    doc = load_doc()
    problems = []
    for name, resp in doc["components"]["responses"].items():
        for ctype, media in resp.get("content", {}).items():
            if "example" in media:
                problems += schema_errors(doc, media["schema"], media["example"],
                                          f"responses/{name} example")
                ptype = media["example"].get("type", "")
                slug = ptype.rsplit("/", 1)[-1]
                if slug not in problem_types_in_code():
                    problems.append(f"responses/{name}: example type {ptype} is not in src/")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# The document against the route tables


def test_route_tables_were_parsed():
    assert len(ROUTES) >= 30, ROUTES
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys)), "a route is declared twice"


def test_every_documented_operation_is_a_route():
    declared = {(r.method, r.path) for r in ROUTES}
    extra = sorted(set(doc_operations()) - declared)
    assert not extra, f"documented but not in src/api_*.c: {extra}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_is_documented_with_its_roles(route):
    ops = doc_operations()
    assert (route.method, route.path) in ops, \
        f"{route.method} {route.path} ({route.source}) is not in {DOC_PATH.name}"
    template, op = ops[(route.method, route.path)]
    roles = op.get("x-roles")
    assert isinstance(roles, list) and len(roles) == len(set(roles)), roles
    assert set(roles) == route.roles, \
        f"{route.method} {template}: x-roles {sorted(roles)} but {route.source} says " \
        f"{sorted(route.roles)}"
    # Written in one order, so the document reads the same everywhere.
    assert roles == [r for r in ROLE_ORDER if r in roles], roles


def test_roles_are_the_ones_the_daemon_knows():
    known = role_names()
    assert set(ROLE_ORDER) == known, f"roles in include/http.h: {sorted(known)}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_security_admits_exactly_the_roles(route):
    doc = load_doc()
    ops = doc_operations(doc)
    if (route.method, route.path) not in ops:
        pytest.skip("not documented (reported by test_route_is_documented_with_its_roles)")
    _, op = ops[(route.method, route.path)]
    security = op.get("security", doc.get("security", []))
    schemes = {name for req in security for name in req}
    if route.roles == {"public"}:
        assert security == [], f"a public route must say security: [] (has {security})"
        return
    if "public" in route.roles:
        # Public, with credentials that unlock more (GET /v1/slots?case=):
        # no credentials is one of the alternatives.
        assert {} in security, f"optional credentials need {{}} in security: {security}"
    want = set()
    if "customer" in route.roles:
        want |= {"manageToken", "manageTokenQuery"}
    if "feed" in route.roles:
        want |= {"feedTokenQuery"}
    if route.roles & STAFF_ROLES:
        want |= {"apiKey"}
    assert schemes == want, f"security {sorted(schemes)}, roles want {sorted(want)}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_flags_and_query_parameters_match_the_handlers(route):
    doc = load_doc()
    ops = doc_operations(doc)
    if (route.method, route.path) not in ops:
        pytest.skip("not documented (reported by test_route_is_documented_with_its_roles)")
    template, op = ops[(route.method, route.path)]
    params = op_parameters(doc, template, op)
    flags = set(re.findall(r"HTTP_F_[A-Z_]+", route.flags))

    has_idem = ("header", "Idempotency-Key") in params
    assert has_idem == ("HTTP_F_IDEMPOTENT" in flags), \
        f"Idempotency-Key documented: {has_idem}; route flags: {route.flags}"

    body = resolve(doc, op.get("requestBody", {}))
    ctypes = set(body.get("content", {}))
    if "HTTP_F_RAW_BODY" in flags:
        assert ctypes == {"text/calendar"}, ctypes
    else:
        assert "text/calendar" not in ctypes, ctypes
    if "HTTP_F_BIG_BODY" in flags:
        assert "413" in op["responses"], "a big-body route documents its 413"

    facts = handler_facts()
    assert (route.method, route.path) in facts, "route row not found by the handler scan"
    reads, pages = facts[(route.method, route.path)]
    want = set(reads) | ({"limit", "cursor"} if pages else set())
    documented = {name for (loc, name) in params if loc == "query"}
    assert documented == want, \
        f"query parameters documented {sorted(documented)}, handlers read {sorted(want)}"


def test_problem_types_named_in_the_document_exist_in_the_sources():
    doc = load_doc()
    known = problem_types_in_code()
    assert {"unauthorized", "forbidden", "not-found", "slot-full"} <= known, \
        "the problem-type scan of src/*.c broke"
    missing = []
    for (method, path), (_, op) in doc_operations(doc).items():
        slugs = op.get("x-problem-types")
        if not isinstance(slugs, list):
            missing.append(f"{method} {path}: no x-problem-types list")
            continue
        missing += [f"{method} {path}: {s}" for s in slugs if s not in known]
    assert not missing, f"problem types not raised anywhere in src/: {missing}"


# --------------------------------------------------------------------------
# Against the daemon

SAMPLE_IDS = {"id": "42", "tid": "7"}


def _concrete(template):
    return re.sub(r"\{([^}/]+)\}", lambda m: SAMPLE_IDS.get(m.group(1), "1"), template)


def _sample_body(doc, op):
    body = resolve(doc, op.get("requestBody", {}))
    content = body.get("content", {})
    if "application/json" in content:
        return {"json": {}}
    if "text/calendar" in content:
        return {"data": b"", "headers": {"Content-Type": "text/calendar"}}
    return {}


def _is_no_such_endpoint(r):
    if r.status_code != 404:
        return False
    try:
        return r.json().get("detail") == "no such endpoint"
    except ValueError:
        return True


def test_every_documented_route_exists_on_the_daemon(daemon):
    doc = load_doc()
    failures = []
    for (method, _), (template, op) in sorted(doc_operations(doc).items()):
        path = _concrete(template)
        r = daemon.req(method, path, **_sample_body(doc, op))
        what = f"{method} {path} without credentials: {r.status_code} {r.text[:200]}"
        if _is_no_such_endpoint(r) or r.status_code == 405 or r.status_code >= 500:
            failures.append(what)
        elif "public" not in op["x-roles"]:
            try:
                assert_problem(r, 401, "/problems/unauthorized")
            except AssertionError:
                failures.append(f"{what} (wanted 401 unauthorized)")
    assert not failures, "\n".join(failures)


def test_an_undocumented_path_is_no_such_endpoint(daemon):
    # The check above has teeth: a path nobody declared reads as missing.
    for path in ("/v1/callbackz", "/v1/callbacks/42/nothing", "/v2/slots"):
        r = daemon.req("GET", path)
        p = assert_problem(r, 404, "/problems/not-found")
        assert p["detail"] == "no such endpoint", p


def test_undocumented_methods_get_405_with_the_documented_allow(daemon):
    doc = load_doc()
    failures = []
    for template, item in sorted(doc["paths"].items()):
        documented = {m.upper() for m in item if m in HTTP_METHODS}
        spare = [m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in documented]
        path = _concrete(template)
        r = daemon.req(spare[0], path)
        allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        if r.status_code != 405 or allow != documented:
            failures.append(f"{spare[0]} {path}: {r.status_code}, Allow {sorted(allow)}; "
                            f"documented {sorted(documented)}")
    assert not failures, "\n".join(failures)


class Checker:
    """Compares answers with the document: the status must be one the
    operation lists, and a JSON body must fit that status's schema."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.doc = load_doc()
        self.failures = []

    def call(self, method, template, key=None, want=None, path_args=None, **kwargs):
        path = template.format(**(path_args or {}))
        r = self.daemon.req(method, path, key=key, **kwargs)
        where = f"{method} {path} -> {r.status_code}"
        if want is not None and r.status_code != want:
            self.failures.append(f"{where}, wanted {want}: {r.text[:500]}")
            return r
        op = self.doc["paths"][template][method.lower()]
        resp = op["responses"].get(str(r.status_code)) or op["responses"].get("default")
        if resp is None:
            self.failures.append(f"{where}: status not documented: {r.text[:300]}")
            return r
        resp = resolve(self.doc, resp)
        content = resp.get("content", {})
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
        if not content:
            if r.content:
                self.failures.append(f"{where}: documented without a body, got {ctype}")
        elif ctype not in content:
            self.failures.append(f"{where}: Content-Type {ctype}, documented {list(content)}")
        elif ctype.endswith("json"):
            errs = schema_errors(self.doc, content[ctype]["schema"], r.json(), where)
            self.failures += errs
        return r


def test_answers_fit_the_documented_schemas(daemon):
    c = Checker(daemon)
    admin = daemon.admin_key
    t0 = datetime.now(timezone.utc)

    c.call("GET", "/healthz", want=200)
    c.call("GET", "/readyz", want=200)
    c.call("GET", "/metrics", want=200)

    # Agents and keys. The second agent stays inactive until the handoff, so
    # every booking goes to the first.
    r = c.call("POST", "/v1/agents", key=admin, want=201,
               json={"name": unique_name("oa"), "display_name": "Sam", "timezone": "Europe/London",
                     "team": "blue", "capacity": 3})
    sam = r.json()
    r = c.call("POST", "/v1/agents", key=admin, want=201,
               json={"name": unique_name("ob"), "display_name": "Alex",
                     "timezone": "America/New_York", "email": "alex@example.com",
                     "active": False})
    alex = r.json()
    c.call("GET", "/v1/agents", key=admin, want=200, params={"limit": 1})
    c.call("GET", "/v1/agents/{id}", key=admin, want=200, path_args={"id": sam["id"]})
    c.call("PATCH", "/v1/agents/{id}", key=admin, want=200, path_args={"id": sam["id"]},
           json={"team": "green"})
    r = c.call("POST", "/v1/keys", key=admin, want=201,
               json={"role": "agent", "name": "sam-phone", "agent_id": sam["id"]})
    sam_key = r.json()["key"]
    r = c.call("POST", "/v1/keys", key=admin, want=201,
               json={"role": "agent", "name": "alex-phone", "agent_id": alex["id"]})
    alex_key = r.json()["key"]
    r = c.call("POST", "/v1/keys", key=admin, want=201, json={"role": "lead", "name": "spare"})
    spare_key_id = r.json()["id"]
    c.call("GET", "/v1/keys", key=admin, want=200)

    # The customer's side.
    c.call("GET", "/v1/slots", want=200, params={"tz": "Europe/London"})
    phone = unique_phone()
    r = c.call("POST", "/v1/callbacks", want=201,
               json=booking(phone=phone, when=hour_slot(0, now=t0), email="ada@example.com",
                            notify=["email"]))
    booked = r.json()
    cb, token, case_id = booked["id"], booked["manage_token"], None
    c.call("POST", "/v1/callbacks", want=202, json=booking(phone=phone, when=hour_slot(1, now=t0)))
    c.call("POST", "/v1/manage-links", want=202, json={"phone": unique_phone()})
    r = c.call("POST", "/v1/callbacks", want=201,
               json=booking(phone=unique_phone(), when="asap"))
    asap = r.json()
    c.call("GET", "/v1/callbacks/{id}", key=token, want=200, path_args={"id": cb})
    r = c.call("GET", "/v1/callbacks/{id}", key=admin, want=200, path_args={"id": cb})
    case_id = r.json()["case_id"]
    c.call("GET", "/v1/callbacks/{id}", key=admin, want=200, path_args={"id": asap["id"]})
    c.call("PATCH", "/v1/callbacks/{id}", key=token, want=200, path_args={"id": cb},
           json={"when": hour_slot(2, now=t0)})
    c.call("GET", "/v1/callbacks/{id}/invite.ics", want=200, path_args={"id": cb},
           params={"token": token})
    c.call("GET", "/v1/callbacks/{id}/messages", key=admin, want=200, path_args={"id": cb})
    c.call("GET", "/v1/slots", key=token, want=200,
           params={"case": case_id, "tz": "Europe/London"})
    c.call("GET", "/v1/slots", want=401, params={"case": case_id, "tz": "Europe/London"})

    # Cases.
    r = c.call("POST", "/v1/cases/{id}/notes", key=sam_key, want=201, path_args={"id": case_id},
               json={"text": "Asked about the March invoice."})
    c.call("POST", "/v1/cases/{id}/notes", key=sam_key, want=201, path_args={"id": case_id},
           json={"text": "The April invoice, not March.", "corrects": r.json()["id"]})
    c.call("GET", "/v1/customers", key=sam_key, want=200, params={"phone": phone})

    # The agent's day.
    c.call("GET", "/v1/me/queue", key=sam_key, want=200)
    c.call("POST", "/v1/me/queue/next", key=sam_key, want=200)
    c.call("POST", "/v1/callbacks/{id}/outcome", key=sam_key, want=200,
           path_args={"id": asap["id"]}, json={"result": "no_answer", "note": "Voicemail."})
    # An inactive agent's key is refused everywhere; active, alex has
    # nothing to claim (every booking went to sam).
    c.call("POST", "/v1/me/queue/next", key=alex_key, want=403)
    c.call("PATCH", "/v1/agents/{id}", key=admin, want=200, path_args={"id": alex["id"]},
           json={"active": True})
    c.call("POST", "/v1/me/queue/next", key=alex_key, want=204)
    c.call("GET", "/v1/me/queue", key=sam_key, want=200)
    c.call("POST", "/v1/callbacks/{id}/claim", key=sam_key, want=200, path_args={"id": asap["id"]})
    c.call("POST", "/v1/callbacks/{id}/outcome", key=sam_key, want=200,
           path_args={"id": asap["id"]}, json={"result": "reached"})
    c.call("GET", "/v1/cases/{id}", key=sam_key, want=200, path_args={"id": case_id})
    r = c.call("POST", "/v1/agents/{id}/feed-token", key=sam_key, want=201,
               path_args={"id": sam["id"]})
    c.call("GET", "/v1/agents/{id}/calendar.ics", want=200, path_args={"id": sam["id"]},
           params={"token": r.json()["token"]})

    # Rosters, on the agent who takes no bookings yet.
    c.call("PUT", "/v1/agents/{id}/shifts", key=admin, want=200, path_args={"id": alex["id"]},
           json={"shifts": [{"start": "2026-01-05T00:00:00", "duration": "PT23H",
                             "rrule": "FREQ=DAILY", "exdates": ["2026-01-06T00:00:00"]}]})
    c.call("GET", "/v1/agents/{id}/shifts", key=alex_key, want=200, path_args={"id": alex["id"]})
    r = c.call("POST", "/v1/agents/{id}/time-off", key=admin, want=201,
               path_args={"id": alex["id"]},
               json={"from": hour_slot(200, now=t0), "to": hour_slot(210, now=t0),
                     "reason": "dentist"})
    off_id = r.json()["id"]
    c.call("GET", "/v1/agents/{id}/time-off", key=alex_key, want=200, path_args={"id": alex["id"]})
    c.call("DELETE", "/v1/agents/{id}/time-off/{tid}", key=admin, want=204,
           path_args={"id": alex["id"], "tid": off_id})
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//callbackd tests//EN\r\n"
           "BEGIN:VEVENT\r\nUID:oa-1@test\r\nDTSTAMP:20261001T000000Z\r\n"
           "DTSTART;TZID=Europe/London:20261005T090000\r\nDURATION:PT8H\r\n"
           "SUMMARY:Day shift\r\nATTENDEE;CN=Nobody Here:mailto:nobody@example.com\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")
    c.call("POST", "/v1/shifts/import", key=admin, want=200, params={"dry_run": "true"},
           data=ics.encode(), headers={"Content-Type": "text/calendar"})

    # Handoffs: plan, carry out, read back, annotate.
    c.call("PATCH", "/v1/agents/{id}", key=admin, want=200, path_args={"id": alex["id"]},
           json={"active": True})
    note = {"summary": "Invoice question", "next_step": "Confirm the April amount",
            "reason": "Sam is off on Friday"}
    c.call("POST", "/v1/handoffs", key=admin, want=200,
           json={"callback_ids": [cb], "note": note, "dry_run": True})
    c.call("POST", "/v1/handoffs", key=admin, want=201,
           json={"callback_ids": [cb], "to_agent": alex["id"], "note": note})
    r = c.call("GET", "/v1/audit", key=admin, want=200, params={"callback": cb})
    handoff_id = r.json()["items"][0]["id"]
    c.call("GET", "/v1/audit", key=admin, want=200, params={"agent": sam["id"], "limit": 5})
    c.call("GET", "/v1/me/handoffs", key=sam_key, want=200)
    c.call("PATCH", "/v1/handoffs/{id}", key=sam_key, want=200, path_args={"id": handoff_id},
           json={"annotation": "She prefers mornings."})
    c.call("GET", "/v1/coverage", key=admin, want=200)
    c.call("GET", "/v1/reports/callbacks", key=admin, want=200,
           params={"from": "2026-10-01", "to": "2026-10-31", "tz": "Europe/London"})
    c.call("POST", "/v1/planner/run", key=admin, want=200)

    # Endings.
    c.call("DELETE", "/v1/callbacks/{id}", key=token, want=200, path_args={"id": cb})
    c.call("DELETE", "/v1/keys/{id}", key=admin, want=204, path_args={"id": spare_key_id})
    c.call("POST", "/v1/test/clock", key=admin, want=200, json={"advance_sec": 0})

    # Problems fit the Problem schema too.
    c.call("GET", "/v1/callbacks/{id}", key=admin, want=404, path_args={"id": 999999})
    c.call("POST", "/v1/callbacks", want=400, json=booking(phone="555-1234"))
    c.call("POST", "/v1/callbacks", want=400, json=booking(colour="blue"))
    c.call("GET", "/v1/agents", key=sam_key, want=403)
    c.call("GET", "/v1/slots", want=400, params={"tz": "Mars/Olympus"})

    assert not c.failures, "\n".join(c.failures)
