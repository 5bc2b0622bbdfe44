"""Each of Azure's examples replayed against the emulator: the status must be one the example gives, and the
answer must have the example's shape (property names, JSON types, nesting, enum values). Every difference is
either fixed or listed, with its reason, in `differences.yaml`; a listed difference that no longer occurs fails
too, so that the list says what the emulator does today."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from acs_smtp_operator.sandbox.azure.faults import FaultSpec
from tests.conformance.cases import ARM_CASES, ENUMS, GRAPH_CASES, MAPS, ArmCase, Binding, GraphCase, example
from tests.conformance.conftest import Answer, Emulator
from tests.conformance.replay import arm_binding, arm_request, known_differences, replay, unexplained
from tests.conformance.shapes import Difference, compare


def _differences(responses: dict[str, Any], answer: Answer, default_only: bool = False) -> list[Difference]:
    codes = ["default"] if default_only else [c for c in responses if c != "default"]
    if not default_only and str(answer.status) not in codes:
        return [Difference("$", "status", f"HTTP {answer.status}; the example answers {', '.join(codes)}")]
    if default_only and answer.status < 400:
        return [Difference("$", "status", f"HTTP {answer.status} where an error was asked for")]
    expected = responses["default" if default_only else str(answer.status)].get("body")
    if expected is None:  # the example's answer has no body: neither may the emulator's (a JSON null is one)
        if answer.text:
            return [Difference("$", "extra", f"a body ({answer.text[:40]!r}) where the example has none")]
        return []
    if not answer.text:
        return [Difference("$", "missing", "no body where the example has one")]
    return compare(expected, answer.body, ENUMS, maps=MAPS)


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
    """The examples' `default` answer (ARM's error envelope): a read of what is not there (404, which is what
    the SDK turns into ResourceNotFoundError and the operator into "absent"), a write the emulator refuses on its
    own (a username equal to the entry's name), and a delete it is told to fail (HTTP 500)."""
    responses = example(case.example)["responses"]
    if case.method == "GET":
        answer = await emulator.call("arm", case.method, arm_request(case, binding, missing=True)[0])
        found = _differences(responses, answer, default_only=True)
        if responses["default"]["body"]["error"]["code"] == "ResourceNotFound" and answer.status != 404:
            found.append(Difference("$", "status", f"HTTP {answer.status} for a missing resource, not 404"))
    else:
        for first in case.setup:
            path, body = arm_request(next(c for c in ARM_CASES if c.example == first), binding)
            await emulator.call("arm", "PUT", path, body)
        path, body = arm_request(case, binding)
        if case.method == "PUT":  # refused by the emulator's own rule, not an injected fault
            body = {**body, "properties": {**body["properties"], "username": binding.exact["smtpusername1"]}}
        else:
            emulator.sandbox.ctx.faults.add(
                FaultSpec.model_validate(
                    {"path": path.split("?")[0] + "$", "method": case.method, "status": 500, "times": 1}
                )
            )
        answer = await emulator.call("arm", case.method, path, body)
        found = _differences(responses, answer, default_only=True)
        if case.method == "PUT" and answer.status != 400:
            found.append(Difference("$", "status", f"HTTP {answer.status} for a username equal to the entry's name"))
    _verdict(f"{case.name} (error)", found)


def test_every_listed_difference_names_a_case_that_runs() -> None:
    """A listed difference of a case that never runs (a typo, a renamed case) would explain nothing, silently."""
    names = {c.name for c in ARM_CASES} | {f"{c.name} (error)" for c in ERRORS}
    names |= {f"graph {c.name}" for c in GRAPH_CASES}
    for known in known_differences():
        assert known.case in names, f"differences.yaml names {known.case!r}, which no replay runs"
        assert "*" not in known.path and "?" not in known.path, f"{known.path}: list each path, no wildcard"


@pytest.mark.parametrize("case", GRAPH_CASES, ids=lambda c: c.name)
async def test_the_emulator_answers_each_graph_call_in_the_docs_shape(emulator: Emulator, case: GraphCase) -> None:
    shape = example(f"graph/{case.shape}")
    cloud = emulator.sandbox.ctx.cloud
    app_id = next(a for a in emulator.sandbox.manifest["applications"] if a["name"] == "shop-mailer")["clientId"]
    app = cloud.app_by_app_id(app_id)
    assert app is not None
    path = shape["request"]["path"].replace("{appId}", app_id).replace("{id}", app.object_id)
    add = f"/v1.0/applications/{app.object_id}/addPassword"
    made = await emulator.call("graph", "POST", add, {"passwordCredential": {"displayName": "conformance replay"}})
    assert made.status == 200, made.text
    body: Any = None
    if case.name == "application-addpassword":
        body = {"passwordCredential": {"displayName": "conformance replay"}}
    elif case.name == "application-removepassword":
        body = {"keyId": made.body["keyId"]}
    answer = await emulator.call("graph", shape["request"]["method"], path, body)
    expected = shape["response"]
    found = (
        [Difference("$", "status", f"HTTP {answer.status}; the example answers {expected['status']}")]
        if answer.status != expected["status"]
        else _differences({str(expected["status"]): {"body": expected["body"]}}, answer)
    )
    if case.name == "application-get":
        # The docs' application shows no key: its keys are passwordCredential resources, as addPassword answers
        # one (its secretText is never listed: null, which says nothing of its type).
        key = {**example("graph/application-addpassword.json")["response"]["body"], "secretText": None}
        listed = answer.body["passwordCredentials"]
        assert listed, "the application lists the key just added"
        found += compare([key], listed, ENUMS, "$.passwordCredentials")
    if case.name != "application-removepassword":  # the key added above goes again
        await emulator.call(
            "graph", "POST", add.replace("addPassword", "removePassword"), {"keyId": made.body["keyId"]}
        )
    _verdict(f"graph {case.name}", found)
