"""The configuration reference, written from the schema: one row per key
(its path, type, default and description), so the reference and the
validation cannot disagree. ``tests/unit/test_docs.py`` checks that
docs/configuration.md is what this writes.

    python -m subliminal.schemadoc src/subliminal/config.schema.yaml > docs/configuration.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HEADER = """# Configuration reference

Written from [`src/subliminal/config.schema.yaml`](../src/subliminal/config.schema.yaml)
by `python -m subliminal.schemadoc` (the tests check it is up to date): edit
the schema's descriptions, not this page. `<name>` stands for a key you
choose (a model, a trait, a recipe); `[]` for a list's items. Every default
is filled in once, by the validation; a default shown under one `method` or
`kind` applies to it alone. The rules the validation adds beyond the schema
(whole numbers, lower-case words, files that must exist, ...) and what an
edit of a finished run reruns are in [the configuration guide](config-guide.md).
"""


def _resolve(node: dict, defs: dict) -> dict:
    """A node with its $ref (into $defs) merged in, its own keys winning."""
    while isinstance(node, dict) and "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    t = node.get("type")
    if isinstance(t, list):
        t = " or ".join(t)
    if t == "array":
        return "list"
    if t in ("integer", "number"):
        bounds = [
            f">= {node['minimum']}" if "minimum" in node else "",
            f"<= {node['maximum']}" if "maximum" in node else "",
        ]
        bounds += [f"> {node['exclusiveMinimum']}" if "exclusiveMinimum" in node else ""]
        bounds += [f"< {node['exclusiveMaximum']}" if "exclusiveMaximum" in node else ""]
        bounds = [b for b in bounds if b]
        return t + (f" ({', '.join(bounds)})" if bounds else "")
    return t or ("one of several forms" if "oneOf" in node or "anyOf" in node else "")


def _text(value) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def rows(node: dict, defs: dict, path: str = "", note: str = "") -> list[tuple[str, str, str, str]]:
    """(key path, type, default, description) of ``node`` and every key below it."""
    node = _resolve(node, defs)
    out = []
    if path:
        default = json.dumps(node["default"]) if "default" in node else ""
        desc = _text(node.get("description", ""))
        out.append((path, _type(node), default, (f"*{note}:* " if note else "") + desc))
    for key, child in (node.get("properties") or {}).items():
        out += rows(child, defs, f"{path}.{key}" if path else key, note)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out += rows(extra, defs, f"{path}.<name>", note)
    if isinstance(node.get("items"), dict):
        item = _resolve(node["items"], defs)
        if "properties" in item or "oneOf" in item or "additionalProperties" in item:
            out += rows(item, defs, f"{path}[]", note)[1:] if item.get("properties") else []
        for branch in item.get("oneOf") or []:
            out += rows(branch, defs, f"{path}[]", note)[1:]
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key) or []:
            branch = _resolve(branch, defs)
            if branch.get("properties"):
                out += [r for r in rows(branch, defs, path, _branch_note(branch, note))[1:]]
    for key in ("then", "else"):
        branch = _resolve(node.get(key) or {}, defs)
        if branch.get("properties"):
            out += rows(branch, defs, path, _branch_note(node.get("if") or {}, note))[1:]
    return out


def _branch_note(branch: dict, note: str) -> str:
    """Which branch a key belongs to: its discriminating const (method: steering)."""
    for key, prop in (branch.get("properties") or {}).items():
        if isinstance(prop, dict) and "const" in prop:
            return f"{key}: {prop['const']}"
    return note


def reference(schema: dict) -> str:
    defs = schema.get("$defs", {})
    lines = [HEADER, "| key | type | default | description |", "| --- | --- | --- | --- |"]
    seen = set()
    for path, typ, default, desc in rows(schema, defs):
        if (path, desc) in seen:
            continue
        seen.add((path, desc))
        lines.append(f"| `{path}` | {typ} | {f'`{default}`' if default else ''} | {desc} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    sys.stdout.write(reference(yaml.safe_load(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
