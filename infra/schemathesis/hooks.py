"""Schemathesis hooks for infra/test.

The REST API answers some errors with status 500 on purpose: RhoConnect did, and
clients match on the exact texts (docs/rest-api.md §1.5). Schemathesis' own
`not_a_server_error` cannot tell those from crashes, so this check replaces it: a 5xx
fails the run unless it is a 500 whose whole body is one of the documented messages.
"""

import re

import schemathesis

# The 500 texts of docs/rest-api.md §1.5, plus the push-settings error of docs/rest-api.md §4.6.
DOCUMENTED_500_BODIES = [
    r"Unknown user '.*'",
    r"Unknown client",
    r"Unknown source",
    r"Invalid document type .* for Rhoconnect::Client",
    r"undefined method `.*=' for Rhoconnect::(User|Source)",
    r"Missing required attribute user_id",
    r"Invalid value object for '.*': Hash is expected\.",
    r"Missing attributes",
    r"Empty login",
    r"Record already exists for '.*'",
    r"Reserved user id __shared__",
    r"Missing adapter_url",
    r"Stats not enabled",
    r"Invalid RhoConnect Push settings",
    r"Server error while processing client data",
    r'Lock ".*" expired before it was released',
]
_DOCUMENTED = [re.compile(p, re.S) for p in DOCUMENTED_500_BODIES]


@schemathesis.check
def no_undocumented_server_error(ctx, response, case):
    status = response.status_code
    if status < 500:
        return None
    body = response.text or ""
    if status == 500 and any(p.fullmatch(body) for p in _DOCUMENTED):
        return None
    raise AssertionError(f"undocumented server error {status}: {body[:300]!r}")
