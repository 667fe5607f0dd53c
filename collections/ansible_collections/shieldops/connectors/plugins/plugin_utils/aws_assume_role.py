# -*- coding: utf-8 -*-
"""sts:AssumeRole for a run: the one piece of code that turns an environment's role settings into short-lived
credentials, used by the facade (shieldops_ansible.providers.aws, which caches them across runs) and by the AWS
role's aws_assumed_role lookup (a playbook run without the facade: ansible-playbook, AWX).

Only the standard library at import time (the facade loads this file by path); boto3 is imported when a role is
assumed. Errors are AssumeRoleRefused with a kind (authentication, permission_denied, backend_unavailable: the
facade's error kinds) and a message that names the role and the error code only: never a credential, never the
response's text.
"""
from __future__ import annotations

__all__ = ["ASSUMED_ROLE_ENV", "AssumeRoleRefused", "assume_role"]

# Set by the facade in the run's environment to the role it has assumed for the run: the playbooks then use the
# credentials they were given and assume nothing again.
ASSUMED_ROLE_ENV = "SHIELDOPS_AWS_ASSUMED_ROLE"


class AssumeRoleRefused(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def assume_role(settings):
    """(env, expires_at) for ``settings`` (a mapping: role_arn, role_session_name, duration_seconds, region, and
    optionally external_id, endpoint_url, profile, credentials_file). The source credentials are the ambient chain
    (environment, profile, instance or container role) of this process, or the settings' profile and file."""
    import boto3
    import botocore.exceptions
    import botocore.parsers
    import botocore.session

    role_arn = settings["role_arn"]
    core = botocore.session.Session()
    # Set on this session only, not the process environment.
    if settings.get("credentials_file"):
        core.set_config_variable("credentials_file", settings["credentials_file"])
    if settings.get("profile"):
        core.set_config_variable("profile", settings["profile"])
    session = boto3.Session(botocore_session=core)
    sts = session.client("sts", region_name=settings.get("region"), endpoint_url=settings.get("endpoint_url") or None)
    kwargs = {
        "RoleArn": role_arn,
        "RoleSessionName": settings.get("role_session_name") or "shieldops-agent",
        "DurationSeconds": int(settings.get("duration_seconds") or 900),
    }
    if settings.get("external_id"):
        kwargs["ExternalId"] = settings["external_id"]
    try:
        creds = sts.assume_role(**kwargs)["Credentials"]
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ProfileNotFound):
        raise AssumeRoleRefused("authentication", "no source credentials to call sts:AssumeRole with") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = "sts:AssumeRole into %s refused: %s" % (role_arn, code)
        kind = "permission_denied" if code in ("AccessDenied", "AccessDeniedException") else "authentication"
        raise AssumeRoleRefused(kind, message) from None
    except botocore.exceptions.EndpointConnectionError:
        raise AssumeRoleRefused(
            "backend_unavailable", "STS endpoint unreachable for region %s" % settings.get("region")) from None
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as exc:
        # Timeouts, TLS, an answer that is not STS's: named by type only (no response text echoed).
        raise AssumeRoleRefused("backend_unavailable", "sts:AssumeRole failed: %s" % type(exc).__name__) from None
    env = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    return env, creds["Expiration"].timestamp()
