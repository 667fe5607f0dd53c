"""AWS: settings and short-lived credentials through STS AssumeRole.

The source identity that may call AssumeRole comes from the ordinary botocore chain (instance profile, web
identity, SSO, or a named profile); only the temporary credentials of the assumed role reach a run, through its
process environment. They are cached in memory until shortly before they expire.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ...errors import error_for_kind
from ...models import plugin_utils
from ..base import EnvironmentSettings, Provider

if TYPE_CHECKING:
    from ...sandbox.backend import SandboxBackend

__all__ = ["AwsProvider", "AwsSettings"]

# Without role_arn a run authenticates through botocore's own chain as the agent's process would: these are the
# variables that chain reads (static or web-identity credentials, profiles and their files, the container and
# instance metadata endpoints). Taken from our environment by name, through the secret channel; nothing else is.
_AMBIENT_CHAIN = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
        "AWS_METADATA_SERVICE_TIMEOUT",
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_SDK_LOAD_CONFIG",
    }
)
# TLS trust for the API endpoints: the run needs it whichever way it authenticates.
_ALWAYS_FROM_OURS = frozenset({"AWS_CA_BUNDLE"})
_ASSUMED_ROLE_ENV = "SHIELDOPS_AWS_ASSUMED_ROLE"  # plugin_utils/aws_assume_role.py's ASSUMED_ROLE_ENV
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REFRESH_MARGIN_S = 300


class AwsSettings(EnvironmentSettings):
    provider: Literal["aws"]
    region: str = Field(
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$",
        description="The AWS region the run works in (its AWS_REGION and AWS_DEFAULT_REGION).",
    )
    role_arn: str | None = Field(
        default=None,
        description="The IAM role every run works as, assumed with sts:AssumeRole for short-lived credentials.",
    )
    external_id: str | None = Field(
        default=None, min_length=2, max_length=1224, description="The role's sts:ExternalId condition, if it has one."
    )
    role_session_name: str = Field(
        default="shieldops-agent", pattern=r"^[\w+=,.@-]{2,64}$", description="The session name CloudTrail records."
    )
    duration_seconds: int = Field(
        default=900, ge=900, le=43200, description="How long the assumed credentials last, in seconds."
    )
    endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="One endpoint for every AWS API the run calls (a test endpoint such as moto's); default AWS's own.",
    )
    profile: str | None = Field(default=None, description="source profile used only to call AssumeRole")
    credentials_file: str | None = Field(default=None, description="shared credentials file of that profile")
    # botocore's own retries (throttling, 5xx): an agent may prefer failing fast to a long backoff.
    retry_mode: Literal["legacy", "standard", "adaptive"] | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=20)

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN.match(value):
            raise ValueError("is not an IAM role ARN")
        return value

    def role_settings(self) -> dict[str, Any]:
        # The role settings too: a run without the facade (ansible-playbook, AWX) assumes the role itself
        # (the aws_assumed_role lookup); the facade's runs carry the credentials it assumed and assume nothing.
        settings: dict[str, Any] = {"region": self.region, "endpoint_url": self.endpoint_url}
        if self.role_arn:
            keep = {"role_arn", "role_session_name", "duration_seconds", "external_id", "profile", "credentials_file"}
            settings |= self.model_dump(include=keep, exclude_none=True, mode="json")
        return settings


@dataclass
class _Cached:
    env: dict[str, str]
    expires_at: float


class AwsProvider(Provider):
    name = "aws"
    settings_model = AwsSettings
    run_env_names = frozenset(
        {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"}
        | {_ASSUMED_ROLE_ENV}
        | _AMBIENT_CHAIN
        | _ALWAYS_FROM_OURS
    )

    worker_modules = frozenset(
        {
            "amazon.aws.ec2_instance",
            "amazon.aws.ec2_instance_info",
            "amazon.aws.ec2_snapshot",
            "amazon.aws.ec2_vol",
            "amazon.aws.lambda_alias",
            "amazon.aws.lambda_info",
            "community.aws.ecs_service",
            "community.aws.ecs_service_info",
            "shieldops.connectors.aws_cloudwatch_metric_statistics_info",
            "shieldops.connectors.aws_ec2_instance_status_info",
            "shieldops.connectors.aws_ecs_inventory_info",
            "shieldops.connectors.aws_event_history_info",
            "shieldops.connectors.aws_lambda_version",
        }
    )
    warm_imports = ("boto3", "botocore.session", "botocore.client")
    warm_plugins = {"inventory": ("amazon.aws.aws_ec2",)}

    @classmethod
    def warm_up(cls) -> None:
        from . import warm

        warm.warm_up()

    @classmethod
    def request_ids(cls, result: Mapping[str, Any]) -> list[str]:
        ids = super().request_ids(result)
        # amazon.aws modules drop ResponseMetadata from results, but keep it when a call fails.
        failed_call = result.get("response_metadata")
        if isinstance(failed_call, Mapping) and failed_call.get("request_id"):
            ids.append(str(failed_call["request_id"]))
        return ids

    def __init__(self) -> None:
        self._cache: dict[AwsSettings, _Cached] = {}
        self._lock = asyncio.Lock()

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        assert isinstance(settings, AwsSettings)
        env = _from_ours(_ALWAYS_FROM_OURS)
        env |= {"AWS_REGION": settings.region, "AWS_DEFAULT_REGION": settings.region}
        if settings.endpoint_url:
            env["AWS_ENDPOINT_URL"] = settings.endpoint_url
        if settings.retry_mode:
            env["AWS_RETRY_MODE"] = settings.retry_mode
        if settings.max_attempts:
            env["AWS_MAX_ATTEMPTS"] = str(settings.max_attempts)
        if settings.role_arn is None:
            # No role: the run uses the ambient chain (instance profile, web identity, SSO profile) as it is; the
            # settings' own profile and file win over ours.
            env = _from_ours(_AMBIENT_CHAIN) | env
            if settings.profile:
                env["AWS_PROFILE"] = settings.profile
            if settings.credentials_file:
                env["AWS_SHARED_CREDENTIALS_FILE"] = settings.credentials_file
            return env
        async with self._lock:
            cached = self._cache.get(settings)
            if cached is None or cached.expires_at - time.time() < _REFRESH_MARGIN_S:
                cached = await asyncio.to_thread(_assume_role, settings)
                self._cache[settings] = cached
        return env | cached.env

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        from .sandbox import AwsSandboxBackend

        return AwsSandboxBackend()


def _from_ours(names: frozenset[str]) -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name in names}


def _assume_role(settings: AwsSettings) -> _Cached:
    module = plugin_utils("aws_assume_role")  # the playbooks' aws_assumed_role lookup runs the same code
    try:
        env, expires_at = module.assume_role(settings.model_dump(mode="json"))
    except module.AssumeRoleRefused as refused:
        raise error_for_kind(refused.kind, str(refused)) from None
    # The run's playbooks use these and assume nothing again.
    return _Cached(env={**env, module.ASSUMED_ROLE_ENV: str(settings.role_arn)}, expires_at=expires_at)
