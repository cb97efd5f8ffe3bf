"""Product policy: the knobs a product owner tunes, as opposed to deployment configuration.

Matching weights and bounds, claim and check-in rules, record limits and anomaly flags, points,
statistics, Open311 defaults, personal data retention and the WeChat subscribe-message table.
Every UPPERCASE name here is a setting: backend/settings.py star-imports them (``__all__`` at
the end), and the code reads each as ``django.conf.settings.NAME``. Most can be overridden from
the environment variable of the same name.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from backend.env import env_float, env_int, env_str

# REQUESTS, CLAIMS AND CHECK-IN
# ------------------------------------------------------------------------------
# Check-in geofence around the request's point, in metres (geodesic distance).
SERVICES_GEOFENCE_METERS = env_int("SERVICES_GEOFENCE_METERS", 500, minimum=1)
# Check-in opens this many minutes before starts_at (and closes at ends_at).
SERVICES_CHECK_IN_OPENS_MINUTES = env_int("SERVICES_CHECK_IN_OPENS_MINUTES", 60, minimum=0)
# A claim with no check-in by max(starts_at, claimed_at) + grace expires and frees its slot.
SERVICES_CLAIM_GRACE_MINUTES = env_int("SERVICES_CLAIM_GRACE_MINUTES", 30, minimum=0)
# Hours: check-in to check-out counts from starts_at - grace to ends_at + grace at most, and
# whoever is still checked in at ends_at + grace is checked out by the sweep
# (docs/records-and-points.md#hours).
SERVICES_HOURS_GRACE_MINUTES = env_int("SERVICES_HOURS_GRACE_MINUTES", 30, minimum=0)
# Cancelling a claim less than this many hours before starts_at is recorded as late.
SERVICES_LATE_CANCEL_HOURS = env_int("SERVICES_LATE_CANCEL_HOURS", 24, minimum=0)
# near=lat,lng searches: the radius_km used when none is given.
SERVICES_DEFAULT_RADIUS_KM = env_float("SERVICES_DEFAULT_RADIUS_KM", 10.0, minimum=0.1)
# near=lat,lng searches: the largest radius_km allowed.
SERVICES_MAX_RADIUS_KM = env_float("SERVICES_MAX_RADIUS_KM", 50.0, minimum=0.1)
if SERVICES_DEFAULT_RADIUS_KM > SERVICES_MAX_RADIUS_KM:
    raise ImproperlyConfigured("SERVICES_DEFAULT_RADIUS_KM must not exceed SERVICES_MAX_RADIUS_KM")
# Duplicate-need warning: similar open requests of the same village posted within these days.
SERVICES_DUPLICATE_WINDOW_DAYS = env_int("SERVICES_DUPLICATE_WINDOW_DAYS", 14, minimum=0)
# Claimants get one reminder when their service starts within this many hours.
SERVICES_REMINDER_HOURS = env_int("SERVICES_REMINDER_HOURS", 24, minimum=1)

# A recurring service (POST series/) makes at most this many occurrences (requests).
SERIES_MAX_OCCURRENCES = env_int("SERIES_MAX_OCCURRENCES", 52, minimum=1)

# A member's calendar feed (GET calendar/{token}.ics) lists at most this many upcoming tasks.
CALENDAR_FEED_MAX_EVENTS = env_int("CALENDAR_FEED_MAX_EVENTS", 200, minimum=1)

# MEMBERS: ROSTER IMPORT AND ACTIVATION
# ------------------------------------------------------------------------------
# Excel roster import (POST /api/v1/members/import/, manage.py import_roster): largest upload.
ROSTER_MAX_BYTES = env_int("ROSTER_MAX_BYTES", 1024 * 1024, minimum=1024)
# Largest total unpacked size of the .xlsx (a zip; guards against zip bombs).
ROSTER_MAX_UNPACKED_BYTES = env_int("ROSTER_MAX_UNPACKED_BYTES", 20 * 1024 * 1024, minimum=1024)
# Most data rows one roster may hold.
ROSTER_MAX_ROWS = env_int("ROSTER_MAX_ROWS", 2000, minimum=1)
# One-time activation codes of accounts created by staff or the roster import are valid this long.
MEMBER_ACTIVATION_DAYS = env_int("MEMBER_ACTIVATION_DAYS", 14, minimum=1)

# SERVICE RECORDS AND ANOMALY FLAGS
# ------------------------------------------------------------------------------
# Service records (POST requests/{id}/record/): counts above these bounds are a typo or worse,
# refused with 400 rather than flagged.
# The largest people_served one record may report.
RECORDS_MAX_PEOPLE_SERVED = env_int("RECORDS_MAX_PEOPLE_SERVED", 10000, minimum=1)
# The largest enterprises_served one record may report.
RECORDS_MAX_ENTERPRISES_SERVED = env_int("RECORDS_MAX_ENTERPRISES_SERVED", 1000, minimum=1)
# The largest households_visited one record may report.
RECORDS_MAX_HOUSEHOLDS_VISITED = env_int("RECORDS_MAX_HOUSEHOLDS_VISITED", 5000, minimum=1)
# Anomaly flags (services.records.anomalies). They never block a record; the verifier must
# acknowledge them in the note. people_served above this many per participating member is
# flagged ...
RECORDS_FLAG_PEOPLE_PER_PARTICIPANT = env_int("RECORDS_FLAG_PEOPLE_PER_PARTICIPANT", 50, minimum=1)
# ... and so is anything above this district-wide bound for one record, however many served.
RECORDS_FLAG_PEOPLE_MAX = env_int("RECORDS_FLAG_PEOPLE_MAX", 300, minimum=1)
if RECORDS_FLAG_PEOPLE_MAX > RECORDS_MAX_PEOPLE_SERVED:
    raise ImproperlyConfigured("RECORDS_FLAG_PEOPLE_MAX must not exceed RECORDS_MAX_PEOPLE_SERVED")
# A record submitted more than this many hours after the request's ends_at is flagged late.
RECORDS_FLAG_LATE_HOURS = env_int("RECORDS_FLAG_LATE_HOURS", 72, minimum=1)

# PHOTO EVIDENCE (services.attachments, docs/attachments.md)
# ------------------------------------------------------------------------------
# The largest image file accepted, in bytes (413 attachment_too_large above it).
ATTACHMENTS_MAX_BYTES = env_int("ATTACHMENTS_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# The largest image accepted, in pixels (width × height): a decoded image costs about 4 bytes a
# pixel, so this bounds the memory one upload can take (413 attachment_too_many_pixels).
ATTACHMENTS_MAX_PIXELS = env_int("ATTACHMENTS_MAX_PIXELS", 40_000_000, minimum=10_000)
# The body limit of POST records/{id}/attachments/ alone (MAX_BODY_BYTES elsewhere). Keep the
# attachments location of deploy/nginx/wwqz.conf in step.
ATTACHMENTS_MAX_UPLOAD_BYTES = env_int(
    "ATTACHMENTS_MAX_UPLOAD_BYTES", 32 * 1024 * 1024, minimum=1024
)
if ATTACHMENTS_MAX_UPLOAD_BYTES < ATTACHMENTS_MAX_BYTES:
    raise ImproperlyConfigured(
        "ATTACHMENTS_MAX_UPLOAD_BYTES must be at least ATTACHMENTS_MAX_BYTES"
    )
# The most photos one service record may carry (409 too_many_attachments above it).
ATTACHMENTS_MAX_PER_RECORD = env_int("ATTACHMENTS_MAX_PER_RECORD", 9, minimum=1)
# The longest side of a thumbnail, in pixels.
ATTACHMENTS_THUMBNAIL_PX = env_int("ATTACHMENTS_THUMBNAIL_PX", 320, minimum=16)
# Signed URLs of photos are valid this many seconds (local signed view and S3 presigned URLs).
ATTACHMENTS_URL_SECONDS = env_int("ATTACHMENTS_URL_SECONDS", 300, minimum=10)
# Anomaly flags of a record's photos: taken farther than this from the request's point ...
ATTACHMENTS_FLAG_DISTANCE_KM = env_float("ATTACHMENTS_FLAG_DISTANCE_KM", 2.0, minimum=0.01)
# ... or outside [starts_at - grace, ends_at + grace] of the request.
ATTACHMENTS_FLAG_GRACE_MINUTES = env_int("ATTACHMENTS_FLAG_GRACE_MINUTES", 60, minimum=0)

# POINTS
# ------------------------------------------------------------------------------
# GET points/leaderboard/: rows when ?limit= is not given.
POINTS_LEADERBOARD_LIMIT = env_int("POINTS_LEADERBOARD_LIMIT", 20, minimum=1)
# GET points/leaderboard/: the most rows a client may ask for.
POINTS_LEADERBOARD_MAX_LIMIT = env_int("POINTS_LEADERBOARD_MAX_LIMIT", 100, minimum=1)
if POINTS_LEADERBOARD_LIMIT > POINTS_LEADERBOARD_MAX_LIMIT:
    raise ImproperlyConfigured(
        "POINTS_LEADERBOARD_LIMIT must not exceed POINTS_LEADERBOARD_MAX_LIMIT"
    )
# GET me/: how many of the member's latest ledger lines points_recent shows.
POINTS_RECENT_ENTRIES = env_int("POINTS_RECENT_ENTRIES", 10, minimum=1)

# STATISTICS AND DASHBOARD
# ------------------------------------------------------------------------------
# GET stats/unclaimed/: open requests with no claim for more than this many hours (default).
STATS_UNCLAIMED_HOURS = env_int("STATS_UNCLAIMED_HOURS", 48, minimum=1)
# The longest period one statistics request may cover (from..to, inclusive), in days.
STATS_MAX_RANGE_DAYS = env_int("STATS_MAX_RANGE_DAYS", 3660, minimum=1)
# GET stats/export/: a sheet (or CSV) with more rows than this is refused (422 export_too_large).
STATS_EXPORT_MAX_ROWS = env_int("STATS_EXPORT_MAX_ROWS", 5000, minimum=1)
# Staff dashboard (/dashboard/): size of the leaderboard it shows.
DASHBOARD_LEADERBOARD_SIZE = env_int("DASHBOARD_LEADERBOARD_SIZE", 10, minimum=1)
# Staff dashboard (/dashboard/): rows of the unclaimed list it shows.
DASHBOARD_UNCLAIMED_ROWS = env_int("DASHBOARD_UNCLAIMED_ROWS", 10, minimum=1)

# SERVICE ARCHIVE AND CERTIFICATES
# ------------------------------------------------------------------------------
# 志愿服务证明 (docs/certificates-and-archive.md): the organisation printed as the issuer.
CERTIFICATE_ISSUER = env_str("CERTIFICATE_ISSUER", "政协定海区委员会办公室")
# The serial number's prefix: WWQZ-2026-000123 (prefix, year of issue, running number).
CERTIFICATE_SERIAL_PREFIX = env_str("CERTIFICATE_SERIAL_PREFIX", "WWQZ")
# The public site the QR code and the printed link point at (…/verify/<code>), no trailing /.
CERTIFICATE_VERIFY_BASE_URL = env_str("CERTIFICATE_VERIFY_BASE_URL", "http://127.0.0.1:8000")
# The longest period one certificate may cover (from..to, inclusive), in days.
CERTIFICATE_MAX_DAYS = env_int("CERTIFICATE_MAX_DAYS", 366, minimum=1)
# A certificate's PDF is drawn once and kept in the shared cache this long (it never changes).
CERTIFICATE_PDF_CACHE_SECONDS = env_int("CERTIFICATE_PDF_CACHE_SECONDS", 7 * 86400, minimum=0)
# The most services one certificate lists (a longer period must be split).
CERTIFICATE_MAX_SERVICES = env_int("CERTIFICATE_MAX_SERVICES", 200, minimum=1)
# The font certificates are drawn in: a TrueType/OpenType file with CJK glyphs; empty, the
# Noto Sans CJK font of the cvttf-NotoSansCJK-Regular package (docs/certificates-and-archive.md).
CERTIFICATE_FONT_PATH = env_str("CERTIFICATE_FONT_PATH", "")

# MATCHING
# ------------------------------------------------------------------------------
# Ranked teams for a request, the member feed and the map (services.matching; docs/matching.md).
# Weights of the five terms (each in [0, 1]); the score is their weighted mean.
MATCHING_WEIGHTS = {
    "specialty": env_float("MATCHING_WEIGHT_SPECIALTY", 0.35, minimum=0),
    "distance": env_float("MATCHING_WEIGHT_DISTANCE", 0.30, minimum=0),
    "load": env_float("MATCHING_WEIGHT_LOAD", 0.15, minimum=0),
    "reliability": env_float("MATCHING_WEIGHT_RELIABILITY", 0.10, minimum=0),
    "history": env_float("MATCHING_WEIGHT_HISTORY", 0.10, minimum=0),
}
if sum(MATCHING_WEIGHTS.values()) <= 0:
    raise ImproperlyConfigured("At least one MATCHING_WEIGHT_* must be positive")
# A required specialty held only by the team's members (or, for a member, only by their team)
# counts this much of one held by the team (the member) itself.
MATCHING_SECONDARY_SPECIALTY_CREDIT = env_float(
    "MATCHING_SECONDARY_SPECIALTY_CREDIT", 0.6, minimum=0
)
if MATCHING_SECONDARY_SPECIALTY_CREDIT > 1:
    raise ImproperlyConfigured("MATCHING_SECONDARY_SPECIALTY_CREDIT must be at most 1")
# The distance term halves every this many km.
MATCHING_DISTANCE_HALF_KM = env_float("MATCHING_DISTANCE_HALF_KM", 10.0, minimum=0.1)
# Teams farther than this many km are not ranked.
MATCHING_MAX_DISTANCE_KM = env_float("MATCHING_MAX_DISTANCE_KM", 50.0, minimum=0.1)
# Member feed (requests/recommended/): the radius_km used when none is given.
MATCHING_FEED_DEFAULT_RADIUS_KM = env_float("MATCHING_FEED_DEFAULT_RADIUS_KM", 10.0, minimum=0.1)
# Member feed (requests/recommended/): the largest radius_km allowed.
MATCHING_FEED_MAX_RADIUS_KM = env_float("MATCHING_FEED_MAX_RADIUS_KM", 50.0, minimum=0.1)
if MATCHING_FEED_DEFAULT_RADIUS_KM > MATCHING_FEED_MAX_RADIUS_KM:
    raise ImproperlyConfigured(
        "MATCHING_FEED_DEFAULT_RADIUS_KM must not exceed MATCHING_FEED_MAX_RADIUS_KM"
    )
# Load: live claims within this many hours before the start or after the end count as busy
# (travel between islands takes time).
MATCHING_LOAD_PADDING_HOURS = env_float("MATCHING_LOAD_PADDING_HOURS", 2.0, minimum=0)
# Reliability looks at no-shows and late cancels of the last this many days.
MATCHING_RELIABILITY_DAYS = env_int("MATCHING_RELIABILITY_DAYS", 90, minimum=1)
# History looks at verified service ("done" claims) at the request's station in the last N days.
MATCHING_HISTORY_DAYS = env_int("MATCHING_HISTORY_DAYS", 30, minimum=1)
# History gives full marks at this many services.
MATCHING_HISTORY_FULL = env_int("MATCHING_HISTORY_FULL", 3, minimum=1)
# 评单 feed a team's history term (times mean rating / 5) from this many ratings of its
# verified records on, counted over the last N days.
MATCHING_RATING_MIN = env_int("MATCHING_RATING_MIN", 5, minimum=1)
MATCHING_RATING_DAYS = env_int("MATCHING_RATING_DAYS", 365, minimum=1)
# requests/{id}/matches/: teams returned when ?limit= is not given.
MATCHING_MATCHES_DEFAULT_LIMIT = env_int("MATCHING_MATCHES_DEFAULT_LIMIT", 10, minimum=1)
# requests/{id}/matches/: the largest ?limit= allowed.
MATCHING_MATCHES_MAX_LIMIT = env_int("MATCHING_MATCHES_MAX_LIMIT", 50, minimum=1)
if MATCHING_MATCHES_DEFAULT_LIMIT > MATCHING_MATCHES_MAX_LIMIT:
    raise ImproperlyConfigured(
        "MATCHING_MATCHES_DEFAULT_LIMIT must not exceed MATCHING_MATCHES_MAX_LIMIT"
    )
# At most this many candidates (the nearest) are loaded and scored in Python per call.
MATCHING_CANDIDATE_LIMIT = env_int("MATCHING_CANDIDATE_LIMIT", 100, minimum=1)
# Teams the matcher reads members and claims of first, beyond ?limit= (services.matching).
MATCHING_BOUND_MARGIN = env_int("MATCHING_BOUND_MARGIN", 10, minimum=0)
# requests/map/: most requests answered as points; a box holding more answers clusters.
MATCHING_MAP_MAX_FEATURES = env_int("MATCHING_MAP_MAX_FEATURES", 500, minimum=1)
# requests/map/: a dense box clusters at the fixed grid's level where its longer side spans
# N cells (more than N/2, at most N), one cluster per touched cell holding requests.
MATCHING_MAP_CLUSTER_GRID = env_int("MATCHING_MAP_CLUSTER_GRID", 8, minimum=1)
# requests/map/: the largest bbox a client may ask for, in square degrees.
MATCHING_MAP_MAX_BBOX_DEG2 = env_float("MATCHING_MAP_MAX_BBOX_DEG2", 1.0, minimum=0.0001)

# OPEN311
# ------------------------------------------------------------------------------
# Open311 GeoReport v2 at /open311/v2/ (services.open311); the spec's 1000 requests and 90 days.
# GET requests.json returns at most this many requests.
OPEN311_MAX_REQUESTS = env_int("OPEN311_MAX_REQUESTS", 1000, minimum=1)
# GET requests.json covers the last this many days without dates, and refuses a longer
# start_date..end_date span.
OPEN311_MAX_DAYS = env_int("OPEN311_MAX_DAYS", 90, minimum=1)
# A posted request without attribute[starts_at] starts tomorrow at this local hour.
OPEN311_DEFAULT_START_HOUR = env_int("OPEN311_DEFAULT_START_HOUR", 9, minimum=0)
if OPEN311_DEFAULT_START_HOUR > 23:
    raise ImproperlyConfigured("OPEN311_DEFAULT_START_HOUR must be 0..23")
# A posted request without attribute[ends_at] lasts this many hours.
OPEN311_DEFAULT_DURATION_HOURS = env_int("OPEN311_DEFAULT_DURATION_HOURS", 8, minimum=1)

# RESIDENTS' INTAKE (群众点单, docs/intake.md)
# ------------------------------------------------------------------------------
# The public address QR posters point at (https://host, no trailing slash); empty: the address
# the poster was downloaded from.
INTAKE_PUBLIC_BASE_URL = env_str("INTAKE_PUBLIC_BASE_URL", "")
# Submissions (the /q/<code>/ form and POST /api/v1/intake/) per client address and per phone
# number, "N/sec|min|hour|day", counted by accounts.throttles.hit in the shared cache.
INTAKE_RATE_PER_ADDRESS = env_str("INTAKE_RATE_PER_ADDRESS", "10/hour")
INTAKE_RATE_PER_PHONE = env_str("INTAKE_RATE_PER_PHONE", "5/day")
# Longest description a resident may write (characters).
INTAKE_MAX_DESCRIPTION = env_int("INTAKE_MAX_DESCRIPTION", 1000, minimum=10)
# Photos a resident may add to one need (each within ATTACHMENTS_MAX_BYTES, as records' are).
INTAKE_MAX_PHOTOS = env_int("INTAKE_MAX_PHOTOS", 3, minimum=0)
# The mini-program adds its photos after submitting (one upload per photo): for this long
# after the intake was posted, while it is still new.
INTAKE_PHOTO_WINDOW_MINUTES = env_int("INTAKE_PHOTO_WINDOW_MINUTES", 30, minimum=1)
# Intakes new for longer than this are listed (stats/untriaged/) and their managers told once.
INTAKE_TRIAGE_HOURS = env_int("INTAKE_TRIAGE_HOURS", 24, minimum=1)
# Recent intakes of the station this many days back are compared for duplicates.
INTAKE_DUPLICATE_DAYS = env_int("INTAKE_DUPLICATE_DAYS", 7, minimum=0)
# 评单: a rating may be changed for this many days after it was first given.
INTAKE_RATING_CHANGE_DAYS = env_int("INTAKE_RATING_CHANGE_DAYS", 7, minimum=0)

# 暖企 (enterprises, docs/enterprises.md)
# ------------------------------------------------------------------------------
# A visit's check-in must be this close to the enterprise's location (metres, geodesic).
ENTERPRISE_GEOFENCE_METERS = env_int("ENTERPRISE_GEOFENCE_METERS", 500, minimum=1)
# 无事不扰: a visit within this many days of the enterprise's last visit (by anyone) is warned.
ENTERPRISE_QUIET_DAYS = env_int("ENTERPRISE_QUIET_DAYS", 14, minimum=0)
# Visits per enterprise per calendar month (Asia/Shanghai) beyond which a visit is refused,
# unless the enterprise asked for it.
ENTERPRISE_VISITS_PER_MONTH = env_int("ENTERPRISE_VISITS_PER_MONTH", 2, minimum=1)
# The longest visit a 专员 may log (minutes), and how far back it may have started (hours).
ENTERPRISE_VISIT_MAX_MINUTES = env_int("ENTERPRISE_VISIT_MAX_MINUTES", 480, minimum=10)
ENTERPRISE_VISIT_LOG_HOURS = env_int("ENTERPRISE_VISIT_LOG_HOURS", 12, minimum=1)
# Contacts of enterprises deactivated this many days ago are emptied by the retention purge.
ENTERPRISE_CONTACT_RETENTION_DAYS = env_int("ENTERPRISE_CONTACT_RETENTION_DAYS", 180, minimum=1)

# PERSONAL DATA RETENTION
# ------------------------------------------------------------------------------
# manage.py purge_personal_data (services.retention): residents' contacts and check-in positions
# of requests that ended more than this many days ago go.
PERSONAL_DATA_RETENTION_DAYS = env_int("PERSONAL_DATA_RETENTION_DAYS", 180, minimum=1)
# Rows changed per transaction by the purge.
PERSONAL_DATA_PURGE_BATCH = env_int("PERSONAL_DATA_PURGE_BATCH", 500, minimum=1)

# READINESS (/readyz, backend/health.py)
# ------------------------------------------------------------------------------
# Not ready when the oldest pending outbox row is older than this: the senders are down or stuck
# (members would learn of a claim's news this late).
READYZ_OUTBOX_MAX_AGE_SECONDS = env_int("READYZ_OUTBOX_MAX_AGE_SECONDS", 900, minimum=60)
# Not ready when the read replica (DATABASE_REPLICA_URL) is this far behind: statistics and the
# dashboard would show figures older than that.
READYZ_REPLICA_MAX_LAG_SECONDS = env_float("READYZ_REPLICA_MAX_LAG_SECONDS", 30.0, minimum=1)

# WECHAT SUBSCRIBE MESSAGES
# ------------------------------------------------------------------------------
# The mini-program page a message opens (must exist in the released app.json).
WECHAT_NOTIFY_PAGE = env_str("WECHAT_NOTIFY_PAGE", "pages/notifications/index")


def _subscribe_template(kind: str, **fields: tuple[str, str]) -> dict:
    """One kind's template: id from WECHAT_TEMPLATE_<KIND>, page, and typed data fields."""
    return {
        "template_id": env_str(f"WECHAT_TEMPLATE_{kind.upper()}", ""),
        "page": f"{WECHAT_NOTIFY_PAGE}?id={{notification_id}}",
        "data": {key: {"type": type_, "value": value} for key, (type_, value) in fields.items()},
    }


# Notification kind → subscribe-message template. A kind missing here, or whose template id is
# empty, stays in the in-app list only (its row ends `skipped`). The data keys (thing1, time3 ...)
# must match the template picked on the WeChat platform; each value is a type (thing ≤ 20 chars,
# phrase ≤ 5, name ≤ 10, character_string/number ≤ 32, time, date) and a text in which
# {a|b|c} is the first non-empty of payload keys a, b, c or the row's title, body, kind,
# created_at, notification_id.
WECHAT_SUBSCRIBE_TEMPLATES: dict[str, dict] = {
    "request_cancelled": _subscribe_template(
        "request_cancelled",
        thing1=("thing", "{request_title|title}"),
        thing2=("thing", "{reason|body}"),
        time3=("time", "{starts_at|created_at}"),
    ),
    "request_changed": _subscribe_template(
        "request_changed",
        thing1=("thing", "{request_title|title}"),
        thing2=("thing", "{summary|body}"),
        time3=("time", "{starts_at|created_at}"),
    ),
    "claim_confirmed": _subscribe_template(
        "claim_confirmed",
        thing1=("thing", "{request_title|title}"),
        time2=("time", "{starts_at|created_at}"),
        thing3=("thing", "{address|body|title}"),
    ),
    "assignment_created": _subscribe_template(
        "assignment_created",
        thing1=("thing", "{request_title|title}"),
        thing2=("thing", "{team_name|body}"),
        time3=("time", "{starts_at|created_at}"),
    ),
    "claim_promoted": _subscribe_template(
        "claim_promoted",
        thing1=("thing", "{request_title|title}"),
        time2=("time", "{starts_at|created_at}"),
        thing3=("thing", "{body|title}"),
    ),
    "claim_expired": _subscribe_template(
        "claim_expired",
        thing1=("thing", "{request_title|title}"),
        time2=("time", "{starts_at|created_at}"),
        thing3=("thing", "{body|title}"),
    ),
    "claim_rejected": _subscribe_template(
        "claim_rejected",
        thing1=("thing", "{request_title|title}"),
        thing2=("thing", "{reason|body|title}"),
        time3=("time", "{created_at}"),
    ),
    "team_invited": _subscribe_template(
        "team_invited",
        thing1=("thing", "{request_title|title}"),
        thing2=("thing", "{team_name|body|title}"),
        time3=("time", "{until|starts_at|created_at}"),
    ),
    "reminder": _subscribe_template(
        "reminder",
        thing1=("thing", "{request_title|title}"),
        time2=("time", "{starts_at|created_at}"),
        thing3=("thing", "{address|body|title}"),
    ),
    "record_verified": _subscribe_template(
        "record_verified",
        thing1=("thing", "{request_title|title}"),
        phrase2=("phrase", "已通过"),
        thing3=("thing", "{note|body|title}"),
    ),
    "record_rejected": _subscribe_template(
        "record_rejected",
        thing1=("thing", "{request_title|title}"),
        phrase2=("phrase", "未通过"),
        thing3=("thing", "{note|body|title}"),
    ),
    "intake_step": _subscribe_template(
        "intake_step",
        thing1=("thing", "{step|title}"),
        thing2=("thing", "{body|title}"),
        time3=("time", "{created_at}"),
    ),
    "enterprise_appeal_step": _subscribe_template(
        "enterprise_appeal_step",
        thing1=("thing", "{step|title}"),
        thing2=("thing", "{body|title}"),
        time3=("time", "{created_at}"),
    ),
}


# Every public UPPERCASE name above is a setting; backend/settings.py imports exactly these.
__all__ = [name for name in dir() if name.isupper() and not name.startswith("_")]
