"""Write each GitHub workflow shown in the docs (a ```yaml block with `jobs:`) to DIR, one
file per block, named after the document and its line, so linters can check them. A piece
of a workflow (steps or jobs without the rest), or one without `name` or `on`, is an error:
it would escape the linters.

With `--action action.yml OUT`, write instead a workflow that runs the composite action's
steps as one job (its inputs become workflow_dispatch inputs, its outputs the job's), since
actionlint checks workflows only: its expressions, contexts and step ids get checked too."""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)
# What only a GitHub workflow (or a piece of one) says; other CIs' YAML (GitLab's) has none.
GITHUB = re.compile(r"^\s*(-\s+)?(runs-on|uses|steps):", re.MULTILINE)


def docs_workflows(out: str) -> int:
    target = pathlib.Path(out)
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    problems: list[str] = []
    for doc in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            body = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            top = set(re.findall(r"^([a-z-]+):", body, re.MULTILINE))
            if "jobs" not in top:
                if GITHUB.search(body):
                    problems.append(f"{doc.relative_to(ROOT)}:{line}: a piece of a GitHub workflow: "
                                    "show the whole workflow (name, on, jobs) so that it is linted")
                continue
            if missing := {"name", "on"} - top:
                problems.append(f"{doc.relative_to(ROOT)}:{line}: a workflow without "
                                f"{' or '.join(sorted(missing))}")
            (target / f"{doc.stem}-line{line}.yml").write_text(body, encoding="utf-8")
            count += 1
    print(f"{count} workflows from the docs in {target}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 0 if count and not problems else 1


def _block_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def action_as_workflow(action: str, out: str) -> int:
    spec: dict[str, Any] = yaml.safe_load(pathlib.Path(action).read_text(encoding="utf-8"))
    if spec.get("runs", {}).get("using") != "composite":
        print(f"{action}: not a composite action", file=sys.stderr)
        return 1
    inputs = {name: {"description": i.get("description", ""), "required": bool(i.get("required")),
                     "default": str(i.get("default", "")), "type": "string"}
              for name, i in (spec.get("inputs") or {}).items()}
    workflow = {
        "name": f"{action} as a workflow (generated for actionlint)",
        "on": {"workflow_dispatch": {"inputs": inputs}},
        "permissions": {},
        "jobs": {"action": {
            "runs-on": "ubuntu-latest",
            "outputs": {name: o["value"] for name, o in (spec.get("outputs") or {}).items()},
            "steps": spec["runs"]["steps"],
        }},
    }
    dumper = yaml.SafeDumper
    dumper.add_representer(str, _block_str)
    text = yaml.dump(workflow, Dumper=dumper, sort_keys=False, width=1000, allow_unicode=True)
    pathlib.Path(out).write_text(f"# Generated from {action} by .ci/workflows.py\n{text}", encoding="utf-8")
    print(f"{action} as a workflow in {out}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--action"]:
        sys.exit(action_as_workflow(sys.argv[2], sys.argv[3]))
    sys.exit(docs_workflows(sys.argv[1]))
