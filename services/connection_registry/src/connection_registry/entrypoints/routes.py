"""The internal HTTP API (docs/internal-apis.md): every route requires the callers' bearer token."""

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import SecretStr

from shared.internal_api import ApiError, bearer_auth, error_responses

from ..domain import Refusal
from ..erasure import Erasure
from ..handlers import RegistryHandlers
from . import schemas

MerchantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
StoreId = MerchantId
STATUS = {"unknown_merchant": 404, "unknown_store": 404, "nothing_connected": 409, "not_completed": 409}
_UNKNOWN_MERCHANT = (404, "unknown_merchant")


def refused(refusal: Refusal) -> ApiError:
    return ApiError(STATUS.get(refusal.code, 409), refusal.code, refusal.message)


def build_router(handlers: RegistryHandlers, api_token: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["registry"], dependencies=[Depends(bearer_auth(api_token))])

    async def known(merchant_id: str):  # noqa: ANN202 - the merchant's Graph
        graph = await handlers.graph(merchant_id)
        if graph.merchant is None:
            raise ApiError(404, "unknown_merchant", f"No merchant {merchant_id} is known to the registry.")
        return graph

    @router.get("/merchants/{merchant_id}/summary", response_model=schemas.Summary,
                responses=error_responses(_UNKNOWN_MERCHANT),
                summary="The merchant's stores and their organisations, grouped by organisation")
    async def summary(merchant_id: MerchantId) -> schemas.Summary:
        return schemas.summary(await known(merchant_id))

    @router.get("/merchants/{merchant_id}/stores/{store_id}", response_model=schemas.StoreStatus,
                responses=error_responses(_UNKNOWN_MERCHANT, (404, "unknown_store")), summary="One store's status")
    async def store(merchant_id: MerchantId, store_id: StoreId) -> schemas.StoreStatus:
        graph = await known(merchant_id)
        if store_id not in graph.stores:
            raise ApiError(404, "unknown_store", f"Store {store_id} is not one of merchant {merchant_id}'s stores.")
        return schemas.store_status(graph, graph.stores[store_id])

    @router.get("/merchants/{merchant_id}/timeline", response_model=schemas.Timeline,
                responses=error_responses(_UNKNOWN_MERCHANT), summary="The merchant's append-only history")
    async def timeline(merchant_id: MerchantId, after: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> schemas.Timeline:
        await known(merchant_id)
        return schemas.timeline(merchant_id, await handlers.timeline(merchant_id, after, limit), limit)

    @router.post("/merchants/{merchant_id}/completion", status_code=202, response_model=schemas.CompletionOut,
                 responses={200: {"model": schemas.CompletionOut, "description": "already completed (idempotent)"}}
                 | error_responses(_UNKNOWN_MERCHANT, (409, "nothing_connected")),
                 summary="The merchant has finished: record it and publish one SetupCompleted")
    async def complete(merchant_id: MerchantId, body: schemas.CompletionRequest, response: Response,
                       x_correlation_id: Annotated[UUID | None, Header()] = None) -> schemas.CompletionOut:
        outcome = await handlers.complete(merchant_id, body.completed_by, x_correlation_id)
        if isinstance(outcome, Refusal):
            raise refused(outcome)
        if outcome.change is None:
            response.status_code = 200
        return schemas.CompletionOut(merchant_id=merchant_id, event_id=outcome.event_id, completed_at=outcome.at,
                                     completed_by=outcome.by, already_completed=outcome.change is None)

    return router


def build_erasure_router(erasure: Erasure, api_token: SecretStr) -> APIRouter:
    """`python -m tools.ops erase-merchant` calls this; the console's lead-only action goes through the same use
    case. Idempotent: a repeat answers 200 with the first erasure's record and publishes nothing."""
    router = APIRouter(prefix="/v1", tags=["registry"], dependencies=[Depends(bearer_auth(api_token))])

    @router.post("/merchants/{merchant_id}/erasure", status_code=201, response_model=schemas.ErasureOut,
                 responses={200: {"model": schemas.ErasureOut, "description": "already erased (idempotent)"}},
                 summary="Erase the merchant everywhere: delete the registry's rows, publish one MerchantErased")
    async def erase(merchant_id: MerchantId, body: schemas.ErasureRequest, response: Response) -> schemas.ErasureOut:
        erased = await erasure.erase(merchant_id, body.requested_by, body.reference)
        if erased.already_erased:
            response.status_code = 200
        return schemas.ErasureOut(**asdict(erased.record), already_erased=erased.already_erased)

    return router
