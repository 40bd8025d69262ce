"""CloudPosPaths: where each Cloud POS endpoint lives. A moved path is configuration; a path that would call the
wrong thing for every id (a lost, extra or wrong placeholder, a query) is refused at start."""

import pytest
from pydantic import ValidationError

from shared.settings import CloudPosPaths


def test_ids_fill_one_percent_encoded_segment_each():
    paths = CloudPosPaths(merchant="/v2/accounts/{merchant_id}", store_sales="/r/{store_id}/sales")
    assert paths.fill(paths.merchant, merchant_id="m/1?x#") == "/v2/accounts/m%2F1%3Fx%23"
    assert paths.fill(paths.store_sales, store_id="s 1") == "/r/s%201/sales"
    assert paths.fill(paths.sign_in) == "/api/v1/sessions"


@pytest.mark.parametrize(("name", "path", "why"), [
    ("merchant", "/api/v1/merchants", "exactly {merchant_id}"),
    ("merchant", "/api/v1/merchants/{store_id}", "exactly {merchant_id}"),
    ("merchant_stores", "/m/{merchant_id}/{store_id}", "exactly {merchant_id}"),
    ("store_sales", "/s/{store_id:>10}", "exactly {store_id}"),
    ("sign_in", "/sessions/{merchant_id}", "exactly no placeholder"),
    ("key_introspection", "api-keys/introspect", "starting with /"),
    ("key_introspection", "/api-keys?op=introspect", "no query"),
    ("merchant", "/m/{merchant_id", "unbalanced braces"),
])
def test_a_path_that_cannot_be_right_is_refused(name: str, path: str, why: str):
    with pytest.raises(ValidationError, match=why.replace("{", r"\{").replace("}", r"\}")):
        CloudPosPaths(**{name: path})
