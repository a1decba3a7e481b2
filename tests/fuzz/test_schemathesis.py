"""schemathesis against the app's full OpenAPI document, authenticated, stateless and
stateful (the document's links: create -> read/change), with a live and a test-mode key.

Every response must be declared by its operation (status code, content type, body schema),
and no response is a 5xx except a 503 the operation documents (no entropy source can deliver).
The run is derandomized, so a failure reproduces; `make fuzz` runs many more examples.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import Response
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import (
    FUZZ_EXAMPLES,
    FUZZ_EXPENSIVE_EXAMPLES,
    FUZZ_STATEFUL_EXAMPLES,
    FUZZ_STATEFUL_STEPS,
    FuzzTarget,
    load_schema,
)

pytestmark = pytest.mark.xdist_group("fuzz")

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
# A new RSA key per call (0.5-4 s of CPU each): a few examples here, many in `make fuzz`.
EXPENSIVE = r"^/api/v1/quantum/(rsa|crypto/sign)$"


def fuzz_settings(max_examples: int, **extra: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        **extra,
    )


schema = load_schema()


def assert_no_server_error(case: Any, response: Any) -> None:
    """No 5xx, except a 503 the operation declares (with the error body)."""
    status = response.status_code
    if status < 500:
        return
    declared = str(status) in case.operation.definition.raw.get("responses", {})
    assert status == 503 and declared, (
        f"{case.method} {case.formatted_path} answered {status}: {response.text[:500]}"
    )


def check(case: Any, response: Any) -> None:
    assert_no_server_error(case, response)
    case.validate_response(response, checks=CHECKS)


@schema.exclude(path_regex=EXPENSIVE).parametrize()  # type: ignore[untyped-decorator]
@fuzz_settings(FUZZ_EXAMPLES)
def test_every_operation_answers_within_its_schema(case: Any, fuzz_target: FuzzTarget) -> None:
    check(case, fuzz_target.send(case.as_transport_kwargs(), fuzz_target.live_key))


@load_schema(cheap=True).include(path_regex=EXPENSIVE).parametrize()  # type: ignore[untyped-decorator]
@fuzz_settings(FUZZ_EXPENSIVE_EXAMPLES)
def test_expensive_operations_answer_within_their_schema(
    case: Any, fuzz_target: FuzzTarget
) -> None:
    check(case, fuzz_target.send(case.as_transport_kwargs(), fuzz_target.live_key))


@pytest.mark.parametrize("mode", ["live", "test"])
def test_stateful_links(fuzz_target: FuzzTarget, mode: str) -> None:
    key = fuzz_target.live_key if mode == "live" else fuzz_target.test_key

    class Machine(schema.exclude(path_regex=EXPENSIVE).as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            return Response.from_any(fuzz_target.send(case.as_transport_kwargs(), key))

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            check(case, response)

    Machine.run(
        settings=fuzz_settings(FUZZ_STATEFUL_EXAMPLES, stateful_step_count=FUZZ_STATEFUL_STEPS)
    )


def test_the_checks_catch_an_undeclared_answer(fuzz_target: FuzzTarget) -> None:
    """The harness can fail: a document without the 400 makes a bad body a failure."""
    document = fuzz_target.openapi
    stripped = {
        **document,
        "paths": {
            "/api/v1/licenses/generate": {
                "post": {
                    **document["paths"]["/api/v1/licenses/generate"]["post"],
                    "responses": {
                        k: v
                        for k, v in document["paths"]["/api/v1/licenses/generate"]["post"][
                            "responses"
                        ].items()
                        if k != "400"
                    },
                }
            }
        },
    }
    operation = schemathesis.openapi.from_dict(stripped)["/api/v1/licenses/generate"]["POST"]
    case = operation.Case(body={"end_customer_id": 5})
    response = fuzz_target.send(case.as_transport_kwargs(), fuzz_target.live_key)
    assert response.status_code == 400
    with pytest.raises(FailureGroup) as raised:
        check(case, response)
    assert any(isinstance(exc, UndefinedStatusCode) for exc in raised.value.exceptions)
