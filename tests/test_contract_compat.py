"""The compatibility gate (tools/contract_compat.py): the repository's event schemas stay compatible with the
committed ones, and every rule refuses what it should, shown on synthetic old/new pairs and on git histories."""

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.contract_compat import ROOT, check, find_base, generated_schemas, incompatibilities, main

Schema = dict[str, Any]
KEY_VALIDATED = "com.citruslime.cloudpos.xero.KeyValidated.v1"


def test_the_repositorys_event_schemas_are_compatible_with_the_committed_ones():
    report = check(ROOT)

    assert report.problems == []
    assert report.checked >= 1, f"no committed schemas at {report.base}"
    if (ROOT / ".git").exists():
        assert report.base.commit is not None, report.base.why


def _old() -> Schema:
    """Shaped as pydantic emits an event: `$defs` parts by `$ref`, an enum, an optional part, a free map."""
    return {
        "$defs": {
            "Licence": {"enum": ["pro_plus", "pro", "lite"], "title": "Licence", "type": "string"},
            "Store": {"additionalProperties": False, "type": "object", "required": ["store_id", "name"],
                      "properties": {"store_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                                  "pattern": "^[a-z0-9-]+$"},
                                     "name": {"type": "string", "maxLength": 200}}},
            "User": {"type": "object", "required": ["user_id"],
                     "properties": {"user_id": {"type": "string", "format": "uuid"},
                                    "email": {"type": "string", "default": ""}}},
        },
        "additionalProperties": False,
        "description": "Something happened.",
        "properties": {
            "merchant_id": {"title": "Merchant Id", "type": "string"},
            "licence": {"$ref": "#/$defs/Licence"},
            "stores": {"items": {"$ref": "#/$defs/Store"}, "maxItems": 500, "type": "array"},
            "count": {"type": "integer", "minimum": 0, "maximum": 100},
            "authorised_by": {"anyOf": [{"$ref": "#/$defs/User"}, {"type": "null"}], "default": None},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "note": {"type": "string", "default": ""},
        },
        "required": ["merchant_id", "licence", "stores", "count"],
        "title": "Happened",
        "type": "object",
        "x-kafka-topic": "Happened",
    }


def _changed(change: Callable[[Schema], object]) -> list[str]:
    new = copy.deepcopy(_old())
    change(new)
    return incompatibilities({"T.v1": _old()}, {"T.v1": new})


def _props(schema: Schema, part: str | None = None) -> Schema:
    return (schema["$defs"][part] if part else schema)["properties"]


def _required(schema: Schema, part: str | None = None) -> list[str]:
    return (schema["$defs"][part] if part else schema)["required"]


REFUSED: list[tuple[str, Callable[[Schema], object], str]] = [
    ("removed property", lambda s: _props(s).pop("note"), "data.note: property removed"),
    ("removed nested property", lambda s: (_props(s, "Store").pop("name"), _required(s, "Store").remove("name")),
     "data.stores[].name: property removed"),
    ("became required", lambda s: _required(s).append("note"), "data.note: property became required"),
    ("nested became required", lambda s: _required(s, "User").append("email"),
     "data.authorised_by.email: property became required"),
    ("new required property",
     lambda s: (_props(s).update(channel={"type": "string"}), _required(s).append("channel")),
     "data.channel: new property is required"),
    ("changed type", lambda s: _props(s)["count"].update(type="number"),
     "data.count: type changed from integer to number"),
    ("changed nested type", lambda s: _props(s, "Store")["store_id"].update(type="integer"),
     "data.stores[].store_id: type changed from string to integer"),
    ("became nullable", lambda s: _props(s).update(note={"anyOf": [{"type": "string"}, {"type": "null"}]}),
     "data.note: type changed from string to null | string"),
    ("no longer nullable", lambda s: _props(s).update(authorised_by={"$ref": "#/$defs/User"}),
     "data.authorised_by: type changed from null | object to object"),
    ("array became a string", lambda s: _props(s).update(stores={"type": "string"}),
     "data.stores: type changed from array to string"),
    ("removed enum value", lambda s: s["$defs"]["Licence"]["enum"].remove("lite"),
     'data.licence: enum value(s) removed: ["lite"]'),
    ("enum where any value went", lambda s: _props(s)["note"].update(enum=["a", "b"]),
     "data.note: tightened: now only"),
    ("maxLength lowered", lambda s: _props(s, "Store")["name"].update(maxLength=100),
     "data.stores[].name: maxLength tightened from 200 to 100"),
    ("maxLength added", lambda s: _props(s)["note"].update(maxLength=50),
     "data.note: maxLength tightened from null to 50"),
    ("maxItems lowered", lambda s: _props(s)["stores"].update(maxItems=100),
     "data.stores: maxItems tightened from 500 to 100"),
    ("minItems added", lambda s: _props(s)["stores"].update(minItems=1),
     "data.stores: minItems tightened from null to 1"),
    ("minLength raised", lambda s: _props(s, "Store")["store_id"].update(minLength=3),
     "data.stores[].store_id: minLength tightened from 1 to 3"),
    ("pattern changed", lambda s: _props(s, "Store")["store_id"].update(pattern="^[a-z]+$"),
     'data.stores[].store_id: pattern tightened from "^[a-z0-9-]+$" to "^[a-z]+$"'),
    ("pattern added", lambda s: _props(s)["note"].update(pattern="^x"), "data.note: pattern tightened"),
    ("minimum raised", lambda s: _props(s)["count"].update(minimum=1), "data.count: minimum tightened from 0 to 1"),
    ("maximum lowered", lambda s: _props(s)["count"].update(maximum=99),
     "data.count: maximum tightened from 100 to 99"),
    ("exclusiveMinimum added", lambda s: _props(s)["count"].update(exclusiveMinimum=0),
     "data.count: exclusiveMinimum tightened"),
    ("multipleOf added", lambda s: _props(s)["count"].update(multipleOf=5), "data.count: multipleOf tightened"),
    ("format added", lambda s: _props(s)["merchant_id"].update(format="uuid"),
     'data.merchant_id: format tightened from null to "uuid"'),
    ("format changed", lambda s: _props(s, "User")["user_id"].update(format="email"),
     'data.authorised_by.user_id: format tightened from "uuid" to "email"'),
    ("uniqueItems", lambda s: _props(s)["stores"].update(uniqueItems=True), "data.stores: uniqueItems tightened"),
    ("additionalProperties absent to false", lambda s: s["$defs"]["User"].update(additionalProperties=False),
     "data.authorised_by: additionalProperties made stricter: true -> false"),
    ("additionalProperties true to a schema",
     lambda s: s["$defs"]["User"].update(additionalProperties={"type": "string"}),
     "data.authorised_by: additionalProperties made stricter"),
    ("additionalProperties schema to false", lambda s: _props(s)["labels"].update(additionalProperties=False),
     "data.labels: additionalProperties made stricter"),
    ("additionalProperties schema tightened",
     lambda s: _props(s)["labels"]["additionalProperties"].update(maxLength=9),
     "data.labels{*}: maxLength tightened from null to 9"),
    ("another topic", lambda s: s.update({"x-kafka-topic": "Other"}), "moved from topic Happened to Other"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_an_incompatible_change_is_refused_with_a_reason(change, expected):
    problems = _changed(change)

    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("T.v1: ") for problem in problems)


def test_removing_a_type_is_refused_unless_it_was_retired_on_purpose(monkeypatch):
    assert incompatibilities({"T.v1": _old(), "U.v1": _old()}, {"U.v1": _old()}) == [
        "T.v1: the type was removed; its records may still be on the topic and consumers still decode them"]

    monkeypatch.setattr("tools.contract_compat.RETIRED", frozenset({"T.v1"}))
    assert incompatibilities({"T.v1": _old(), "U.v1": _old()}, {"U.v1": _old()}) == []


ALLOWED: list[tuple[str, Callable[[Schema], object]]] = [
    ("unchanged", lambda s: None),
    ("new optional property", lambda s: _props(s).update(channel={"type": "string", "default": "web"})),
    ("new optional property in a part", lambda s: _props(s, "Store").update(timezone={"type": "string"})),
    ("new optional nullable part", lambda s: _props(s).update(
        previous={"anyOf": [{"$ref": "#/$defs/User"}, {"type": "null"}], "default": None})),
    ("required became optional", lambda s: _required(s).remove("count")),
    ("maxLength raised", lambda s: _props(s, "Store")["name"].update(maxLength=300)),
    ("maxItems raised", lambda s: _props(s)["stores"].update(maxItems=1000)),
    ("minimum lowered", lambda s: _props(s)["count"].update(minimum=-1)),
    ("pattern removed", lambda s: _props(s, "Store")["store_id"].pop("pattern")),
    ("format removed", lambda s: _props(s, "User")["user_id"].pop("format")),
    ("enum value added", lambda s: s["$defs"]["Licence"]["enum"].append("standard")),
    ("additionalProperties false removed", lambda s: s.pop("additionalProperties")),
    ("words changed", lambda s: s.update(description="Said otherwise.", title="Other", examples=[{}])),
    ("a part renamed", lambda s: (s["$defs"].update(Shop=s["$defs"].pop("Store")),
                                  _props(s)["stores"].update(items={"$ref": "#/$defs/Shop"}))),
]


@pytest.mark.parametrize("change", [c for _, c in ALLOWED], ids=[i for i, _ in ALLOWED])
def test_a_compatible_change_passes(change):
    assert _changed(change) == []


def test_new_types_and_new_versions_of_a_type_pass_whatever_they_hold():
    breaking = copy.deepcopy(_old())
    breaking["properties"].pop("note")
    breaking["required"].append("channel")

    assert incompatibilities({"T.v1": _old()}, {"T.v1": _old(), "T.v2": breaking, "U.v1": breaking}) == []


def test_a_part_that_contains_itself_is_compared_without_end():
    def tree(max_length: int) -> Schema:
        node = {"type": "object", "properties": {"name": {"type": "string", "maxLength": max_length},
                                                 "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                                                 "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}}}
        return {"$defs": {"Node": node}, "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}}

    assert incompatibilities({"T.v1": tree(10)}, {"T.v1": tree(10)}) == []
    assert incompatibilities({"T.v1": tree(10)}, {"T.v1": tree(5)}) == [
        "T.v1: data.root.name: maxLength tightened from 10 to 5"]


# --- the base, from git ---------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=CI", "-c", "user.email=ci@example.test",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, schemas: dict[str, Schema], message: str) -> str:
    folder = repo / "docs" / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    for type_, schema in schemas.items():
        (folder / f"{type_}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    return tmp_path


def test_a_fresh_clone_with_only_head_compares_with_head(repo):
    head = _commit(repo, {"T.v1": _old()}, "only")

    base = find_base(repo)

    assert (base.commit, base.why) == (head, "HEAD, the only commit in this clone")


def test_on_the_main_branch_the_previous_commit_is_the_base(repo):
    first = _commit(repo, {"T.v1": _old()}, "first")
    _commit(repo, {}, "second")

    assert find_base(repo).commit == first


def test_on_a_branch_the_merge_base_with_main_is_the_base(repo):
    fork = _commit(repo, {"T.v1": _old()}, "fork point")
    _git(repo, "checkout", "-q", "-b", "feature")
    _commit(repo, {}, "feature 1")
    _commit(repo, {}, "feature 2")
    _git(repo, "checkout", "-q", "main")
    _commit(repo, {}, "main moves on")
    _git(repo, "checkout", "-q", "feature")

    base = find_base(repo)

    assert (base.commit, base.why) == (fork, "the merge-base with main")


def test_without_git_the_files_on_disk_are_the_base(tmp_path):
    (tmp_path / "docs" / "contracts").mkdir(parents=True)
    (tmp_path / "docs" / "contracts" / "T.v1.json").write_text(json.dumps(_old()))

    report = check(tmp_path, generated={"T.v1": _old()})

    assert report.base.commit is None and report.checked == 1 and report.problems == []


def test_the_committed_schemas_are_compared_with_what_the_code_generates(repo, capsys):
    """End to end on pydantic's real output: the base commit holds KeyValidated with one more property and a
    looser limit than the code generates now; the working tree (not committed) does not matter."""
    committed = copy.deepcopy(generated_schemas()[KEY_VALIDATED])
    committed["properties"]["legacy_channel"] = {"type": "string"}
    committed["$defs"]["Store"]["properties"]["name"]["maxLength"] = 300
    _commit(repo, {KEY_VALIDATED: committed}, "base")
    (repo / "docs" / "contracts" / f"{KEY_VALIDATED}.json").unlink()

    assert main(["--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert f"{KEY_VALIDATED}: data.legacy_channel: property removed" in err
    assert f"{KEY_VALIDATED}: data.stores[].name: maxLength tightened from 300 to 200" in err
    assert "2 incompatible change(s) against HEAD, the only commit in this clone" in err

    _commit(repo, {KEY_VALIDATED: generated_schemas()[KEY_VALIDATED]}, "compatible again")
    assert main(["--repo", str(repo), "--base", "HEAD"]) == 0
    assert "every change is compatible" in capsys.readouterr().out


def test_an_unknown_base_is_refused(repo):
    _commit(repo, {}, "only")
    with pytest.raises(SystemExit, match="not a commit"):
        find_base(repo, "no-such-ref")
