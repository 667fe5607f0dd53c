"""Run moto's server with two changes: one fix for IAM enforcement, one API moto lacks.

moto 5.x signs Lambda requests that have an empty body against the request headers (the Lambda responses pass
headers where data belongs), so every Lambda call fails with SignatureDoesNotMatch once IAM is enforced. An empty
body is an empty payload; this launcher signs it as one.

moto has no CloudTrail LookupEvents: it answers 500, which botocore retries after a random back-off (up to a
second) before get_events reports CloudTrail unavailable. The sandbox records no management events, so it answers
LookupEvents as CloudTrail would for a quiet account: no events (after moto's IAM check, like every call).
Otherwise moto is left untouched.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["main"]


def _patch_signature_payload() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.iam import access_control

    original = access_control.IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> AWSRequest:
        request: AWSRequest = original(self)
        if self._body == b"" and self._method in {"GET", "HEAD", "DELETE"}:
            request.data = b""
        return request

    access_control.IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]


def _add_cloudtrail_lookup_events() -> None:
    from moto.cloudtrail.responses import CloudTrailResponse

    def lookup_events(self: Any) -> str:
        return json.dumps({"Events": []})

    CloudTrailResponse.lookup_events = lookup_events  # type: ignore[attr-defined]


def main() -> None:
    from moto.server import main as moto_main

    _patch_signature_payload()
    _add_cloudtrail_lookup_events()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
