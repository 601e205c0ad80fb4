"""`sam build -t cdk.out/<stack>.template.json` needs each function's and layer's asset metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_every_function_and_layer_carries_asset_metadata(template: dict[str, Any], outdir: Path) -> None:
    resources = template["Resources"]
    code = {
        name: r
        for name, r in resources.items()
        if r["Type"] in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion")
        and r["Properties"].get("Runtime", "python").startswith("python")
    }
    assert code
    for name, resource in code.items():
        metadata = resource.get("Metadata", {})
        assert metadata.get("aws:asset:property") in ("Code", "Content"), name
        assert (outdir / metadata["aws:asset:path"]).is_dir(), name
