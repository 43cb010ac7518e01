"""The committed OpenAPI spec is the app's spec: regenerate with `jobmatch openapi`."""

from __future__ import annotations

import json
from pathlib import Path

from service.app import create_app
from service.config import Settings

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    app = create_app(Settings(database_url="postgresql://unused/none"))
    current = json.loads(json.dumps(app.openapi()))
    committed = json.loads(SPEC.read_text())
    assert current == committed, "openapi/openapi.json is stale: run `jobmatch openapi`"


def test_every_operation_documents_its_errors() -> None:
    spec = json.loads(SPEC.read_text())
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), (method, path)
            if path.startswith("/v1/"):
                assert "401" in op["responses"] and "403" in op["responses"], (method, path)
