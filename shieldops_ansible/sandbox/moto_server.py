"""Run moto's server with one fix for IAM enforcement, so the sandbox can enforce IAM on every service.

moto 5.x signs Lambda requests that have an empty body against the request headers (the Lambda responses pass
headers where data belongs), so every Lambda call fails with SignatureDoesNotMatch once IAM is enforced. An empty
body is an empty payload; this launcher signs it as one and otherwise leaves moto untouched.
"""

from __future__ import annotations

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


def main() -> None:
    from moto.server import main as moto_main

    _patch_signature_payload()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
