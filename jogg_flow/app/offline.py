"""The offline commands as functions: plan, outputs and the gallery's records (validate: `check`).

None of them calls the API; `plan --check`'s free reads live in `online`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import planner
from ..manifest.model import Manifest
from ..ui import report
from .scope import Scope, Warn, load, rerender_rule


def plan(scope: Scope, warn: Warn | None = None) -> tuple[Manifest, list[planner.PlanItem]]:
    """Load a manifest and its state and say what `apply` would do. No API calls."""
    manifest, items, _ = plan_with_records(scope, warn)
    return manifest, items


def plan_with_records(scope: Scope, warn: Warn | None = None,
                      ) -> tuple[Manifest, list[planner.PlanItem], Mapping[str, Any]]:
    """`plan`, with the recorded videos it was made from (for estimates)."""
    manifest, records = load(scope, warn)
    items = planner.plan(manifest.videos, records, scope.select, scope.retry_failed,
                         rerender_rule(scope, manifest))
    return manifest, items, records


def outputs(scope: Scope, warn: Warn | None = None) -> list[dict[str, Any]]:
    """Per selected video (and orphan): key, project id, status, video and cover URL, duration."""
    manifest, records = load(scope, warn)
    keys = [item.key for item in planner.plan(manifest.videos, records, scope.select)]
    return report.outputs_rows(keys, records)


def gallery_records(scope: Scope, warn: Warn | None = None,
                    ) -> tuple[Manifest, list[str], Mapping[str, dict[str, Any]]]:
    """What `outputs --output html` shows: the manifest, the selected keys in plan order, the records."""
    manifest, records = load(scope, warn)
    return manifest, [item.key for item in planner.plan(manifest.videos, records, scope.select)], records
