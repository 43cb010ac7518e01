"""Portals generate their client from the committed spec: openapi-python-client must make one
with no warning and every operation (issue 15, item 9). Offline: the generator reads the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# A few seconds per generation.
pytestmark = pytest.mark.slow

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def _generate(spec: Path, out: Path) -> tuple[str, set[str]]:
    """Run the generator on `spec`; its output, and the operations of the client it made."""
    config = out / "config.json"
    # No post hooks: formatting the client with ruff is not what is tested, and needs no PATH.
    config.write_text(json.dumps({"post_hooks": [], "project_name_override": "client"}))
    args = ["--path", str(spec), "--output-path", str(out / "client"), "--config", str(config)]
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    api = out / "client" / "client" / "api"
    generated = {p.stem for p in api.glob("*/*.py") if p.stem != "__init__"}
    return output, generated


def _operation_ids(spec: dict[str, object]) -> set[str]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return {op["operationId"] for item in paths.values() for op in item.values()}


def test_committed_spec_generates_a_python_client_cleanly(tmp_path: Path) -> None:
    output, generated = _generate(SPEC, tmp_path)
    for word in ("warning", "error", "skipping", "unsupported", "invalid"):
        assert word not in output.lower(), output
    missing = _operation_ids(json.loads(SPEC.read_text())) - generated
    assert not missing, f"operations missing from the generated client: {sorted(missing)}"


def test_a_warning_or_a_dropped_operation_is_seen(tmp_path: Path) -> None:
    """The check above can fail: a spec with an NDJSON-only body makes the generator warn and
    drop that operation."""
    spec = json.loads(SPEC.read_text())
    bulk = spec["paths"]["/v1/seekers:bulk"]["post"]
    bulk["requestBody"]["content"] = {"application/x-ndjson": {"schema": {"type": "string"}}}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(spec))
    (tmp_path / "gen").mkdir()
    output, generated = _generate(broken, tmp_path / "gen")
    assert "warning" in output.lower()
    assert "bulk_import_seekers" in _operation_ids(spec) - generated
