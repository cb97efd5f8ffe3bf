"""The SQL behind matching: a few fixed, hand-written reads for the hot paths.

Why not the ORM here: for these reads Django takes several times longer to compile a queryset
than the database takes to run it, and the feed and the team ranking make several reads per
call (bench/matching.py measures them; the docs have the figures). Each statement is plain SQL
with ``%s`` parameters that runs on SQLite and PostgreSQL (the tests run on both); table names
and many-to-many columns come from the models' ``_meta``, other columns are the fields' own
names; datetimes go through the backend's adapters. The number of reads per call is fixed (no
per-row queries) and each is bounded by a LIMIT or by the ids given. Rows come back as
NamedTuples (``_fetch``).

Each statement is a template below, rendered by ``_sql`` with one ``str.format`` (once per shape:
the result is cached). Its fields are SQL text, never values:

- ``{request}``, ``{rs_specialty}``, ...: table and many-to-many column names (``_fragments``);
- ``{when:r.starts_at}``: a datetime column as these reads select it (``_when``);
- ``{d2:r}``: squared km from the point to ``r.lat``/``r.lng`` (``_distance2``), six parameters;
- ``{open}``, ``{finished}``: status constants as literals (``_literals``); ``{time_holding}``
  the placeholders of TIME_HOLDING's statuses;
- fragments the call passes, such as ``IN (...)`` for some number of ids (``_in``).
"""

from services.matching.queries.member_side import (
    KNN_INDEX,
    MEMBER_PROFILE,
    NEAREST_OPEN,
    NEAREST_OPEN_KNN,
    REQUEST_DETAILS,
    REQUEST_FACTS,
    RINGS,
    Candidate,
    MemberClaim,
    MemberProfile,
    MemberRow,
    MemberSpecialty,
    RequestDetails,
    RequestFacts,
    grid_cells,
    member_profile,
    nearest_open,
    nearest_open_knn,
    nearest_open_rings,
    open_candidates,
    request_details,
    request_facts,
)
from services.matching.queries.sql import TIME_HOLDING
from services.matching.queries.team_side import (
    REQUEST_SIDE,
    TEAM_FACTS,
    TEAM_HOLDS,
    TEAMS_NEAR,
    RequestSide,
    RequestSpecialty,
    TeamFacts,
    TeamRow,
    request_side,
    team_facts,
    teams_near,
)

__all__ = [
    "KNN_INDEX",
    "MEMBER_PROFILE",
    "NEAREST_OPEN",
    "NEAREST_OPEN_KNN",
    "REQUEST_DETAILS",
    "REQUEST_FACTS",
    "REQUEST_SIDE",
    "RINGS",
    "TEAMS_NEAR",
    "TEAM_FACTS",
    "TEAM_HOLDS",
    "TIME_HOLDING",
    "Candidate",
    "MemberClaim",
    "MemberProfile",
    "MemberRow",
    "MemberSpecialty",
    "RequestDetails",
    "RequestFacts",
    "RequestSide",
    "RequestSpecialty",
    "TeamFacts",
    "TeamRow",
    "grid_cells",
    "member_profile",
    "nearest_open",
    "nearest_open_knn",
    "nearest_open_rings",
    "open_candidates",
    "request_details",
    "request_facts",
    "request_side",
    "team_facts",
    "teams_near",
]
