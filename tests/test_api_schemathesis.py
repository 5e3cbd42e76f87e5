"""Property-based fuzzing of the REST API from its own OpenAPI spec (schemathesis): no input gives a 5xx.

Kept small (a few examples per operation) so the suite stays fast; calls carry an API token of a role
allowed to reach the operation, so the handlers (not just the authorization gate) are exercised.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from test_api_support import make_app


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from kequn.services import users

    app, _, engine = make_app(tmp_path_factory.mktemp("fuzz"))
    secret = app.state.kequn.secret_key
    tokens = {u: users.create_token(engine, secret, u, "fuzz", actor="test") for u in ("admin", "manager", "auditor")}
    return app, tokens


def _token_for(path: str, tokens: dict[str, str]) -> str:
    if path.startswith(("/api/users", "/api/tokens")):
        return tokens["admin"]
    if path.startswith("/api/audit"):
        return tokens["auditor"]
    return tokens["manager"]


#: 5xx found by this test in other capabilities' routers, reported to their owners; listed so the console's
#: own operations stay guarded while those are fixed. Remove an entry once its fix lands.
KNOWN_5XX: dict[str, str] = {}


def test_no_server_errors(api):
    app, tokens = api
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    seen: list[int] = []
    failures: dict[str, str] = {}
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {_token_for(case.path, tokens)}"})
            seen.append(response.status_code)
            assert response.status_code < 500, \
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - a 5xx or an exception escaping the app
            failures[f"{op.method.upper()} {op.path}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    new = {k: v for k, v in failures.items() if k not in KNOWN_5XX}
    assert not new, "server errors:\n" + "\n".join(f"{k}: {v}" for k, v in new.items())
    assert len(seen) >= len(operations) and any(200 <= s < 300 for s in seen)
