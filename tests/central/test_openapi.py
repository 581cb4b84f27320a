"""central/openapi.yaml documents exactly the routes the API serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from central.app import build

SPEC = Path(__file__).resolve().parents[2] / "central" / "openapi.yaml"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _served(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def _documented(spec: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS}


def test_every_api_route_is_documented_and_vice_versa(central_config):
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["openapi"].startswith("3.1")
    served = _served(build(central_config))
    documented = _documented(spec)
    assert served - documented == set(), "routes missing from openapi.yaml"
    assert documented - served == set(), "openapi.yaml documents routes the app does not serve"


def test_every_schema_reference_resolves():
    spec = yaml.safe_load(SPEC.read_text())
    text = SPEC.read_text()
    for ref in set(re.findall(r'\$ref: "#/components/([a-zA-Z]+)/([A-Za-z]+)"', text)):
        section, name = ref
        assert name in spec["components"][section], ref


def test_every_operation_documents_its_errors():
    spec = yaml.safe_load(SPEC.read_text())
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            codes = set(op["responses"])
            if op.get("security"):
                assert "401" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= codes, (method, path)
