"""The OpenAPI document as JSON, and the reference page rendered from it on the server (no
JavaScript, no external assets: it passes the site's CSP)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .openapi import document

METHODS = ("get", "post", "put", "patch", "delete")


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(document())
    response["Access-Control-Allow-Origin"] = "*"  # so that tools anywhere can read it
    return response


def _schema_text(schema: dict[str, Any] | None) -> str:
    """A schema in a few words: ``Segment``, ``array of Segment``, ``string``."""
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_schema_text(s) for s in schema["oneOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_text(schema.get('items'))}"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "object" and "properties" in schema:
        return "{" + ", ".join(schema["properties"]) + "}"
    return kind


def _content_schema(part: dict[str, Any]) -> str:
    return _schema_text(part.get("content", {}).get("application/json", {}).get("schema"))


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            found.append(
                {
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .strip("-")
                    .translate(str.maketrans("{}", "__")),
                    "method": method.upper(),
                    "path": path,
                    "summary": op["summary"],
                    "auth": "Bearer token" if op.get("security") else "public key",
                    "parameters": [
                        {**p, "type": _schema_text(p.get("schema"))}
                        for p in [*shared, *op.get("parameters", [])]
                    ],
                    "body": _content_schema(op["requestBody"]) if "requestBody" in op else "",
                    "responses": [
                        {
                            "status": status,
                            "description": r["description"],
                            "schema": _content_schema(r),
                        }
                        for status, r in sorted(op["responses"].items())
                    ],
                }
            )
    return found


def _fields(schema: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Rows for a schema's properties, nested objects' as ``error.field``."""
    required = set(schema.get("required", []))
    rows = []
    for field, sub in schema.get("properties", {}).items():
        examples = sub.get("examples", [])
        description = sub.get("description", "")
        if examples:
            description += " Example: " + ", ".join(json.dumps(e) for e in examples)
        rows.append(
            {
                "name": prefix + field,
                "type": _schema_text(sub),
                "required": field in required,
                "description": description.strip(),
            }
        )
        if sub.get("type") == "object" and "properties" in sub:
            rows += _fields(sub, f"{prefix}{field}.")
    return rows


def _schemas(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "summary": _schema_text(schema),
            "fields": _fields(schema),
            "description": schema.get("description", ""),
        }
        for name, schema in doc["components"]["schemas"].items()
    ]


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    doc = document()
    context = {"info": doc["info"], "operations": _operations(doc), "schemas": _schemas(doc)}
    return render(request, "management_api/api_docs.html", context)
