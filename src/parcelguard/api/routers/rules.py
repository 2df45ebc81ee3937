"""Merchant rules: CEL conditions that open alerts of kind ``custom``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import merchant

router = APIRouter(prefix="/v1/rules", tags=["rules"], responses=schemas.ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_RULES))]


def _now(sys: System) -> int:
    return times.to_us(sys.clock.now())


@router.post("/validate", response_model=schemas.RuleChecked,
             summary="Check an expression without saving it (422 says what is wrong, and where)")
def validate(body: schemas.RuleCheck, sys: SystemDep, caller: Manager) -> schemas.RuleChecked:
    fields = merchant.validate(sys.ingestor.rules.expressions, body.expression, body.on)
    return schemas.RuleChecked(valid=True, reads={
        name: sorted(f) if f is not None else ["*"] for name, f in sorted(fields.items())})


@router.post("", status_code=201, response_model=schemas.RuleOut,
             summary="Add a rule; it runs on the tenant's next events or readings")
def add(body: schemas.RuleIn, sys: SystemDep, caller: Manager) -> schemas.RuleOut:
    rule = merchant.create(sys.store, sys.ingestor.rules.expressions, caller.tenant_id, body.name,
                           body.expression, body.on, body.severity, _now(sys))
    sys.rules_changed(caller.tenant_id)
    return schemas.rule_out(rule)


@router.get("", response_model=list[schemas.RuleOut], summary="This tenant's rules, oldest first")
def rules(sys: SystemDep, caller: Manager) -> list[schemas.RuleOut]:
    with sys.store.unit_of_work(write=False) as uow:
        return [schemas.rule_out(r) for r in uow.rules.of_tenant(caller.tenant_id)]


@router.get("/{rule_id}", response_model=schemas.RuleOut, summary="One rule")
def rule(rule_id: str, sys: SystemDep, caller: Manager) -> schemas.RuleOut:
    return schemas.rule_out(merchant.get(sys.store, caller.tenant_id, rule_id))


@router.patch("/{rule_id}", response_model=schemas.RuleOut,
              summary="Rename, rewrite, change severity, enable or disable")
def change(rule_id: str, body: schemas.RuleChange, sys: SystemDep,
           caller: Manager) -> schemas.RuleOut:
    after = merchant.change(sys.store, sys.ingestor.rules.expressions, caller.tenant_id, rule_id,
                            _now(sys), name=body.name, expression=body.expression,
                            severity=body.severity, enabled=body.enabled)
    sys.rules_changed(caller.tenant_id)
    return schemas.rule_out(after)


@router.delete("/{rule_id}", status_code=204, response_class=Response,
               summary="Delete a rule; its alerts stay and still name it")
def delete(rule_id: str, sys: SystemDep, caller: Manager) -> Response:
    merchant.delete(sys.store, caller.tenant_id, rule_id, _now(sys))
    sys.rules_changed(caller.tenant_id)
    return Response(status_code=204)
