"""Which event fields hold a natural person's data: marked once here, on the contract, so sealing
(`shared.personal_data`), the JSON Schemas (`x-personal`) and docs/personal-data.md read one list.

Three kinds, each chosen so the protected value still fits the field's published schema (the compatibility
gate refuses tightened limits):
- `sealed`: a free string (a Xero user's name, email), encrypted under the merchant's key; consumers get it back.
- `pseudonym`: an identifier (a Cloud POS user id) replaced by a keyed hash under the merchant's key: equal
  ids stay equal within a merchant, nobody can reverse it, and once the key is destroyed nobody can link it.
- `pseudonym-uuid`: the same for a UUID field (a Xero user id): a UUID derived from the keyed hash.

Business names (merchant, store, organisation) and staff emails (employees, not the merchant's people) are
not marked: they stay plain. Pure: pydantic only.
"""

from functools import cache
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field

Kind = Literal["sealed", "pseudonym", "pseudonym-uuid"]
KEYWORD = "x-personal"
ANY_ITEM = "*"     # a path step into every item of an array
NOT_PERSONS = frozenset({"oauth_gateway", "xero"})
"""Actor values that name a system, not a person (the gateway acting alone; a change made inside Xero): plain."""


def personal(kind: Kind) -> Any:
    """`Annotated[..., personal("sealed")]`: marks the field in the model and in its JSON Schema."""
    return Field(json_schema_extra={KEYWORD: kind})


Found = tuple[tuple[str, ...], Kind, int | None]


@cache
def personal_fields(model: type[BaseModel]) -> tuple[Found, ...]:
    """Every marked field of `model`: its path into the JSON form (`("authorised_by", "name")`; `*` steps into
    an array's items), its kind and its length limit (a sealed value must still fit). Computed once per model."""
    found: list[Found] = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get(KEYWORD):
            limits = [m.max_length for m in field.metadata if getattr(m, "max_length", None) is not None]
            found.append(((name,), extra[KEYWORD], min(limits, default=None)))  # type: ignore[arg-type]
        for prefix, part in _parts(field.annotation):
            found.extend(((name, *prefix, *path), kind, limit) for path, kind, limit in personal_fields(part))
    return tuple(found)


def _parts(annotation: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], type[BaseModel]]]:
    """The models nested in a field's type (`X | None`, `tuple[X, ...]`), with the steps to reach them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(prefix, annotation)]
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return [found for arg in get_args(annotation) for found in _parts(arg, prefix)]
    if origin in (tuple, list, frozenset, set):
        return [found for arg in get_args(annotation) if arg is not Ellipsis
                for found in _parts(arg, (*prefix, ANY_ITEM))]
    return []
