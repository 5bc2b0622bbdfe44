"""Each of Azure's examples replayed against the emulator: the status must be one the example gives, and the
answer must have the example's shape (property names, JSON types, nesting, enum values). Every difference is
either fixed or listed, with its reason, in `differences.yaml`; a listed difference that no longer occurs fails
too, so that the list says what the emulator does today."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from tests.conformance.cases import ARM_CASES, ENUMS, GRAPH_CASES, ArmCase, Binding, GraphCase, example
from tests.conformance.conftest import Answer, Emulator
from tests.conformance.replay import arm_binding, arm_request, replay, unexplained
from tests.conformance.shapes import Difference, compare


def _differences(responses: dict[str, Any], answer: Answer, default_only: bool = False) -> list[Difference]:
    codes = ["default"] if default_only else [c for c in responses if c != "default"]
    if not default_only and str(answer.status) not in codes:
        return [Difference("$", "status", f"HTTP {answer.status}; the example answers {', '.join(codes)}")]
    if default_only and answer.status < 400:
        return [Difference("$", "status", f"HTTP {answer.status} where an error was asked for")]
    expected = responses["default" if default_only else str(answer.status)].get("body")
    if expected is None:
        return [] if answer.body is None else [Difference("$", "extra", "a body where the example has none")]
    if answer.body is None:
        return [Difference("$", "missing", "no body where the example has one")]
    return compare(expected, answer.body, ENUMS)


def _verdict(case: str, found: list[Difference]) -> None:
    loose, stale = unexplained(case, found)
    assert not loose, f"{case}: differences from Azure's example, neither fixed nor listed: {loose}"
    assert not stale, f"{case}: listed differences that no longer occur (remove them): {stale}"


@pytest.fixture
def binding(emulator: Emulator) -> Iterator[Binding]:
    """Fresh names per example; what the example made is removed afterwards."""
    bound = arm_binding(emulator)
    yield bound
    cloud = emulator.sandbox.ctx.cloud
    cloud.role_definitions.pop(bound.exact["roleDefinitionId"], None)
    cloud.role_assignments.pop(bound.parts["05c5a614-a7d6-4502-b150-c2fb455033ff"], None)
    for key in [k for k in cloud.smtp_usernames if k[1] == bound.exact["smtpusername1"]]:
        del cloud.smtp_usernames[key]
    emulator.sandbox.ctx.faults.clear()


@pytest.mark.parametrize("case", ARM_CASES, ids=lambda c: c.name)
async def test_the_emulator_answers_each_arm_example_in_its_shape(
    emulator: Emulator, binding: Binding, case: ArmCase
) -> None:
    answer = await replay(emulator, case, binding)
    _verdict(case.name, _differences(example(case.example)["responses"], answer))


ERRORS = [c for c in ARM_CASES if "default" in example(c.example)["responses"]]


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.name)
async def test_the_emulator_answers_errors_in_the_examples_error_shape(
    emulator: Emulator, binding: Binding, case: ArmCase
) -> None:
    """The examples' `default` answer (ARM's error envelope): a read of what is not there, or a write the
    emulator is told to fail (HTTP 500, as the example's InternalServerError)."""
    if case.method == "GET":
        answer = await emulator.call("arm", case.method, arm_request(case, binding, missing=True)[0])
    else:
        for first in case.setup:
            path, body = arm_request(next(c for c in ARM_CASES if c.example == first), binding)
            await emulator.call("arm", "PUT", path, body)
        path, body = arm_request(case, binding)
        emulator.sandbox.ctx.faults.add(
            FaultSpec.model_validate(
                {"path": path.split("?")[0] + "$", "method": case.method, "status": 500, "times": 1}
            )
        )
        answer = await emulator.call("arm", case.method, path, body)
    _verdict(f"{case.name} (error)", _differences(example(case.example)["responses"], answer, default_only=True))


@pytest.mark.parametrize("case", GRAPH_CASES, ids=lambda c: c.name)
async def test_the_emulator_answers_each_graph_call_in_the_docs_shape(emulator: Emulator, case: GraphCase) -> None:
    shape = example(f"graph/{case.shape}")
    cloud = emulator.sandbox.ctx.cloud
    app_id = next(a for a in emulator.sandbox.manifest["applications"] if a["name"] == "shop-mailer")["clientId"]
    app = cloud.app_by_app_id(app_id)
    assert app is not None
    path = shape["request"]["path"].replace("{appId}", app_id).replace("{id}", app.object_id)
    body: Any = None
    if case.name == "application-addpassword":
        body = {"passwordCredential": {"displayName": "conformance replay"}}
    elif case.name == "application-removepassword":
        made = await emulator.call(
            "graph", "POST", path.replace("removePassword", "addPassword"), {"passwordCredential": {}}
        )
        body = {"keyId": made.body["keyId"]}
    answer = await emulator.call("graph", shape["request"]["method"], path, body)
    expected = shape["response"]
    found = (
        [Difference("$", "status", f"HTTP {answer.status}; the example answers {expected['status']}")]
        if answer.status != expected["status"]
        else _differences({str(expected["status"]): {"body": expected["body"]}}, answer)
    )
    _verdict(f"graph {case.name}", found)
