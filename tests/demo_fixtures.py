"""Helpers of the demo data's tests: the seeded rows in a form two seedings can be compared in."""

from __future__ import annotations

from services.models import (
    ActiveMemberStat,
    Claim,
    ClaimTimeStat,
    DailyServiceStat,
    PointEntry,
    RequestStat,
    ServiceRecord,
    ServiceRequest,
    VerifyTimeStat,
)


def rows(model, *, drop=(), **names) -> list[tuple]:
    """Every row of ``model`` as sorted tuples, without ids and wall-clock stamps; foreign
    keys to requests, records and claims named by ``names`` (field → lookup of a stable key)."""
    skip = {"id", "updated_at", *drop, *names}
    fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
    return sorted(
        tuple(str(v) for v in row) for row in model.objects.values_list(*fields, *names.values())
    )


def fingerprint() -> dict[str, list[tuple]]:
    """Requests, claims, records, their participants, the ledger and every rollup."""
    return {
        "requests": rows(ServiceRequest),
        "claims": rows(Claim, request_id="request__title"),
        "records": rows(ServiceRecord, request_id="request__title"),
        "participants": rows(
            ServiceRecord.participants.through,
            servicerecord_id="servicerecord__request__title",
            claim_id="claim__member_id",
        ),
        # Through the writes the ledger's booking time is the wall clock's.
        "points": rows(PointEntry, drop=("created_at",), record_id="record__request__title"),
        **{
            model.__name__: rows(model)
            for model in (
                DailyServiceStat,
                RequestStat,
                ClaimTimeStat,
                VerifyTimeStat,
                ActiveMemberStat,
            )
        },
    }
