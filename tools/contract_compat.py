"""Refuse an event schema change that consumers or records already out there would not survive.

Compares the committed `docs/contracts/<type>.json` of a base commit with the JSON Schemas the code generates
now (`shared.contracts.schemas`). For a type version that exists in both, refused: a removed property, a
property that became required (a new one included), a changed type, a removed enum value, a tightened
constraint (maxLength, maxItems, pattern, minimum, format, an enum where any value was allowed...),
additionalProperties made stricter, another topic; and removing a type not listed in `RETIRED`. Allowed:
new optional properties (consumers read tolerantly, see shared/contracts/base.py), new types, and a new
version of a type (a new file, `...KeyValidated.v2.json`): a breaking change is always a new version.

The base: `--base REF` if given; else the merge-base with the main branch when HEAD is on another branch; else
the previous commit; else (a fresh clone that holds only HEAD) HEAD itself, so the working tree's change is
what is checked. Without git at all, the files on disk. `python -m tools.contract_compat`; exit 1 on a problem.
"""

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = "docs/contracts"
MAIN_BRANCHES = ("origin/main", "main")
# Types removed on purpose: no producer left, every consumer moved to the next version, the topic's retention
# passed (docs/changing-an-event.md). Removing any other type is refused.
RETIRED: frozenset[str] = frozenset()

Schema = dict[str, Any]
_LOWER_IS_TIGHTER = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_HIGHER_IS_TIGHTER = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_ANY_CHANGE_IS_TIGHTER = ("pattern", "format", "multipleOf", "const")
_RESOLVED_FROM = "x-compat-ref"   # set on a resolved copy: which definition it came from (recursive parts)


@dataclass(frozen=True, slots=True)
class Base:
    """Where the committed schemas come from: a commit, or (commit None) the working tree's files."""

    commit: str | None
    why: str


@dataclass(slots=True)
class Report:
    base: Base
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def find_base(root: Path, ref: str | None = None) -> Base:
    """The commit whose committed schemas the code must stay compatible with (see the module doc)."""
    if ref is not None:
        commit = _git(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        if commit is None:
            raise SystemExit(f"contract_compat: {ref!r} is not a commit here")
        return Base(commit, f"--base {ref}")
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if head is None:
        return Base(None, f"no git history: the {CONTRACTS} files on disk")
    for branch in MAIN_BRANCHES:
        if _git(root, "rev-parse", "--verify", "-q", f"{branch}^{{commit}}") is None:
            continue
        fork = _git(root, "merge-base", "HEAD", branch)
        if fork is not None and fork != head:
            return Base(fork, f"the merge-base with {branch}")
        break
    if (previous := _git(root, "rev-parse", "--verify", "-q", "HEAD~1^{commit}")) is not None:
        return Base(previous, "the previous commit (HEAD~1)")
    return Base(head, "HEAD, the only commit in this clone")


def committed_schemas(root: Path, base: Base) -> dict[str, Schema]:
    """The base's `docs/contracts/*.json` by CloudEvents type (the file name)."""
    if base.commit is None:
        return {path.stem: json.loads(path.read_text()) for path in sorted((root / CONTRACTS).glob("*.json"))}
    listing = _git(root, "ls-tree", "--name-only", base.commit, f"{CONTRACTS}/")
    if listing is None:
        raise SystemExit(f"contract_compat: cannot list {CONTRACTS} at {base.commit}")
    paths = [p for p in listing.splitlines() if p.endswith(".json")]
    return {Path(p).stem: json.loads(_git(root, "show", f"{base.commit}:{p}") or "{}") for p in paths}


def generated_schemas() -> dict[str, Schema]:
    """What the code generates now, as JSON (what `make docs` would write)."""
    from shared.contracts.schemas import json_schemas

    return json.loads(json.dumps(json_schemas()))


def check(root: Path = ROOT, ref: str | None = None, generated: dict[str, Schema] | None = None) -> Report:
    base = find_base(root, ref)
    report = Report(base)
    old = committed_schemas(root, base)
    report.checked = len(old)
    report.problems = incompatibilities(old, generated_schemas() if generated is None else generated)
    return report


def incompatibilities(old: dict[str, Schema], new: dict[str, Schema]) -> list[str]:
    """Every change from `old` to `new` (schemas by type) that breaks a consumer or a record, one line each."""
    found = []
    for type_, before in sorted(old.items()):
        if (after := new.get(type_)) is None:
            if type_ in RETIRED:
                continue
            found.append(f"{type_}: the type was removed; its records may still be on the topic and consumers "
                         "still decode them")
            continue
        topics = before.get("x-kafka-topic"), after.get("x-kafka-topic")
        if None not in topics and topics[0] != topics[1]:
            found.append(f"{type_}: moved from topic {topics[0]} to {topics[1]}; its consumers read the old one")
        found += [f"{type_}: {problem}" for problem in _Comparison(before, after).schema(before, after, "data")]
    return found


class _Comparison:
    """One type's old and new schema, walked together; `$ref`s resolve within each document."""

    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._roots = (old_root, new_root)
        self._comparing: set[tuple[str, str]] = set()   # definitions being compared, for recursive parts

    def schema(self, old: Schema, new: Schema, path: str) -> list[str]:
        olds, news = self._branches(old, 0), self._branches(new, 1)
        old_types = frozenset().union(*(_types(b) for b in olds))
        new_types = frozenset().union(*(_types(b) for b in news))
        found = []
        if old_types != new_types:
            found.append(f"{path}: type changed from {_union(old_types)} to {_union(new_types)}")
        for branch in olds:
            candidates = [b for b in news if _types(b) == _types(branch)]
            outcomes = [self._one(branch, candidate, path) for candidate in candidates]
            if outcomes and all(outcomes):  # no candidate takes what this branch took
                found += outcomes[0]
        return found

    def _one(self, old: Schema, new: Schema, path: str) -> list[str]:
        definitions = (old.get(_RESOLVED_FROM, ""), new.get(_RESOLVED_FROM, ""))
        if definitions[0] and definitions in self._comparing:  # a part that contains itself: compared above
            return []
        self._comparing.add(definitions)
        try:
            found = _enum(old, new, path) + _constraints(old, new, path)
            if "object" in _types(old):
                found += self._object(old, new, path)
            if "array" in _types(old):
                found += self._array(old, new, path)
            return found
        finally:
            self._comparing.discard(definitions)

    def _object(self, old: Schema, new: Schema, path: str) -> list[str]:
        before, after = old.get("properties", {}), new.get("properties", {})
        found = [f"{path}.{name}: property removed" for name in before if name not in after]
        for name in [n for n in new.get("required", []) if n not in old.get("required", [])]:
            found.append(f"{path}.{name}: property became required" if name in before else
                         f"{path}.{name}: new property is required (a new property must be optional)")
        found += self._additional(old.get("additionalProperties", True), new.get("additionalProperties", True),
                                  path)
        for name in [n for n in before if n in after]:
            found += self.schema(before[name], after[name], f"{path}.{name}")
        return found

    def _additional(self, old: bool | Schema, new: bool | Schema, path: str) -> list[str]:
        if old is False or old == new:
            return []
        if new is False or (old in (True, {}) and new not in (True, {})):
            return [f"{path}: additionalProperties made stricter: {json.dumps(old)} -> {json.dumps(new)}"]
        return self.schema(old, new, f"{path}{{*}}") if isinstance(old, dict) and isinstance(new, dict) else []

    def _array(self, old: Schema, new: Schema, path: str) -> list[str]:
        found = []
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            found += self.schema(old["items"], new["items"], f"{path}[]")
        before, after = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(before) != len(after):
            found.append(f"{path}: tuple length changed from {len(before)} to {len(after)}")
        for index, (was, now) in enumerate(zip(before, after, strict=False)):
            found += self.schema(was, now, f"{path}[{index}]")
        return found

    def _branches(self, schema: Schema, side: int) -> list[Schema]:
        """The alternatives a value may take (`anyOf`/`oneOf` flattened, `$ref` and `allOf` resolved)."""
        schema = self._resolve(schema, side)
        choices = schema.get("anyOf") or schema.get("oneOf")
        if choices and "type" not in schema:
            return [branch for choice in choices for branch in self._branches(choice, side)]
        return [schema]

    def _resolve(self, schema: Schema, side: int) -> Schema:
        for _ in range(32):  # a chain of references, never a loop
            ref = schema.get("$ref")
            if not (isinstance(ref, str) and ref.startswith("#/")):
                break
            target: Any = self._roots[side]
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}, _RESOLVED_FROM: ref}
        for part in schema.get("allOf", []):
            schema = {**self._resolve(part, side), **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema


def _types(schema: Schema) -> frozenset[str]:
    """The JSON types a (resolved) schema admits; "any" when it does not say."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if values is not None:
        return frozenset(_json_type(v) for v in values)
    if "properties" in schema:
        return frozenset({"object"})
    return frozenset({"array"}) if "items" in schema or "prefixItems" in schema else frozenset({"any"})


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), "null")


def _union(types: frozenset[str]) -> str:
    return " | ".join(sorted(types))


def _enum(old: Schema, new: Schema, path: str) -> list[str]:
    if "enum" not in new:
        return []
    if "enum" not in old:
        return [f"{path}: tightened: now only {json.dumps(new['enum'])}"]
    removed = [value for value in old["enum"] if value not in new["enum"]]
    return [f"{path}: enum value(s) removed: {json.dumps(removed)}"] if removed else []


def _constraints(old: Schema, new: Schema, path: str) -> list[str]:
    found = []
    for keyword in (*_LOWER_IS_TIGHTER, *_HIGHER_IS_TIGHTER, *_ANY_CHANGE_IS_TIGHTER, "uniqueItems"):
        was, now = old.get(keyword), new.get(keyword)
        if _tighter(keyword, was, now):
            found.append(f"{path}: {keyword} tightened from {json.dumps(was)} to {json.dumps(now)}")
    return found


def _tighter(keyword: str, was: Any, now: Any) -> bool:
    """Whether the new value of a validation keyword refuses something the old one took."""
    if keyword == "uniqueItems":
        return now is True and was is not True
    if now is None or now == was:
        return False
    if was is None or keyword in _ANY_CHANGE_IS_TIGHTER:
        return True
    return now < was if keyword in _LOWER_IS_TIGHTER else now > was


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None when git fails (not a repository, no such commit, git missing)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refuse event schema changes that are not backward compatible.")
    parser.add_argument("--base", help="the commit or ref to compare with (default: see the module doc)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    report = check(args.repo, args.base)
    where = report.base.why + (f" {report.base.commit[:12]}" if report.base.commit else "")
    if not report.problems:
        print(f"contract_compat: {report.checked} committed event schema(s) at {where}: every change is compatible")
        return 0
    print(f"contract_compat: {len(report.problems)} incompatible change(s) against {where}:", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    print("Keep the type compatible (new fields optional, nothing removed or tightened), or publish the change "
          "as a new version of the type (`@event(topic, name, version=2)`: a new docs/contracts/...v2.json).",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
