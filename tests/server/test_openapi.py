"""The OpenAPI document stays true to the route table, and the server serves it."""

from __future__ import annotations

import re

from dtrain_jupyter.server.handlers import ROUTE_TEMPLATES, ROUTES, template_to_regex
from dtrain_jupyter.server.openapi import documented_operations, openapi_document

VERBS = ("get", "post", "put", "patch", "delete")


def routed_operations() -> dict[str, set[str]]:
    return {t: {v for v in VERBS if v in vars(h)} for t, h in ROUTE_TEMPLATES}


def test_every_route_and_verb_is_documented_and_nothing_else() -> None:
    assert routed_operations() == documented_operations()


def test_document_paths_and_path_parameters_match_the_templates() -> None:
    doc = openapi_document("/base/")
    assert doc["servers"] == [{"url": "/base/dtrain/api"}]
    assert set(doc["paths"]) == {t for t, _ in ROUTE_TEMPLATES}
    for template, item in doc["paths"].items():
        named = set(re.findall(r"\{(\w+)\}", template))
        assert {p["name"] for p in item.get("parameters", [])} == named
        for verb in routed_operations()[template]:
            assert item[verb]["responses"] and item[verb]["summary"]


def test_every_reference_resolves() -> None:
    doc = openapi_document()
    refs = re.findall(r"'\$ref': '#/components/(\w+)/(\w+)'", repr(doc))
    assert refs
    for section, name in refs:
        assert name in doc["components"][section], (section, name)


def test_route_regexes_come_from_the_templates() -> None:
    assert [r for r, _ in ROUTES] == [template_to_regex(t) for t, _ in ROUTE_TEMPLATES]
    assert re.fullmatch(ROUTES[-1][0], "/dtrain/api/local/namespaces/ns/pytorchjobs/j/outputs/a/b.txt")


async def test_the_server_serves_the_document(api, jp_base_url: str) -> None:
    code, doc, _ = await api("openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    assert doc == openapi_document(jp_base_url)


def test_the_output_routes_document_the_location_and_the_three_reads() -> None:
    from dtrain_jupyter.service import OutputListing

    doc = openapi_document()
    job = "/{backend}/namespaces/{namespace}/{plural}/{name}"
    listing = doc["paths"][job + "/outputs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    schemas = doc["components"]["schemas"]
    assert listing == {"$ref": "#/components/schemas/Outputs"}
    assert set(schemas["Outputs"]["properties"]) == set(OutputListing([], {"folder": "/x"}).to_dict())
    assert set(schemas["OutputLocation"]["properties"]) == {"folder", "claim", "path"}
    read = doc["paths"][job + "/outputs/{path}"]["get"]
    assert {p["name"] for p in read["parameters"]} == {"limit", "download", "view"}
