"""The custody ledger's public face: its key, its latest checkpoint, consistency proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain.errors import NotFound
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import ledger

router = APIRouter(prefix="/v1/ledger", tags=["ledger"], responses=schemas.ERRORS)
Reader = Annotated[Principal, Depends(require(Permission.READ_LEDGER))]


@router.get("/key", response_model=schemas.LedgerKeyOut, summary="The checkpoint verifier key")
def key(sys: SystemDep, _: Reader) -> schemas.LedgerKeyOut:
    return schemas.LedgerKeyOut(origin=sys.settings.ledger_origin,
                                verifier_key=sys.signer.verifier_key())


@router.get("/checkpoint", response_model=schemas.CheckpointOut,
            summary="The latest signed checkpoint")
def checkpoint(sys: SystemDep, _: Reader) -> schemas.CheckpointOut:
    with sys.store.unit_of_work(write=False) as uow:
        cp = uow.ledger.latest_checkpoint()
    out = schemas.checkpoint(cp)
    if out is None:
        raise NotFound("no checkpoint has been signed yet")
    return out


@router.get("/consistency", response_model=schemas.ConsistencyOut,
            summary="Proof that the tree of size `second` extends the tree of size `first`")
def consistency(
    sys: SystemDep, _: Reader,
    first: Annotated[int, Query(ge=0)], second: Annotated[int, Query(ge=0)],
) -> schemas.ConsistencyOut:
    with sys.store.unit_of_work(write=False) as uow:
        hashes = ledger.consistency(uow, first, second)
    return schemas.ConsistencyOut(first=first, second=second, hashes=[h.hex() for h in hashes])
