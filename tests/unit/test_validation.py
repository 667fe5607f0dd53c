import pytest

from shieldops_ansible import ActionNotSupported, InvalidRequest
from shieldops_ansible.providers.aws import AwsProvider
from shieldops_ansible.validation import check_json_data, check_text

CAPS = AwsProvider().capabilities


@pytest.mark.parametrize(
    "rid,native",
    [
        ("i-0123456789abcdef0", "ec2_instance"),
        ("arn:aws:ecs:us-east-1:123456789012:service/prod/web", "ecs_service"),
        ("arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "ecs_cluster"),
        ("arn:aws:lambda:us-east-1:123456789012:function:thumbs", "lambda_function"),
    ],
)
def test_id_grammar(rid: str, native: str) -> None:
    assert CAPS.native_type_of(rid).name == native


@pytest.mark.parametrize(
    "rid",
    [
        "i-XYZ",
        "i-0123456789abcdef0\n",
        "i-0123456789abcdef0; rm -rf /",
        "arn:aws:ecs:us-east-1:123456789012:service/prod/../../etc",
        "arn:aws:lambda:us-east-1:123456789012:function:f:1",
        "-e @/etc/passwd",
        "{{ 7 * 7 }}",
        "",
        "i-0123456789abcdef0\x00",
    ],
)
def test_id_grammar_rejects(rid: str) -> None:
    with pytest.raises(InvalidRequest):
        CAPS.native_type_of(rid)


def test_common_and_native_types() -> None:
    assert CAPS.native_types_for("service") == ["ecs_service"]
    assert CAPS.native_types_for("lambda_function") == ["lambda_function"]
    with pytest.raises(InvalidRequest):
        CAPS.native_types_for("database")


def test_actions_and_parameters() -> None:
    ecs = CAPS.native_types["ecs_service"]
    assert CAPS.action(ecs, "scale").check_parameters({"replicas": 3}) == {"replicas": 3}
    with pytest.raises(InvalidRequest):
        CAPS.action(ecs, "scale").check_parameters({})
    with pytest.raises(InvalidRequest):
        CAPS.action(ecs, "scale").check_parameters({"replicas": "3"})
    with pytest.raises(InvalidRequest):
        CAPS.action(ecs, "scale").check_parameters({"replicas": True})
    with pytest.raises(InvalidRequest):
        CAPS.action(ecs, "scale").check_parameters({"replicas": 3, "force": True})
    with pytest.raises(ActionNotSupported):
        CAPS.action(CAPS.native_types["ec2_instance"], "scale")


def test_text_limits() -> None:
    with pytest.raises(InvalidRequest):
        check_text("x" * 200_000, "f")
    with pytest.raises(InvalidRequest):
        check_text(b"bytes", "f")
    with pytest.raises(InvalidRequest):
        check_json_data({"a": object()}, "f")
    with pytest.raises(InvalidRequest):
        check_json_data({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}, "f")
