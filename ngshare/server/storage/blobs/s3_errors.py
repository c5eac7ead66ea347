"""What boto3 raises, as the faults a blob store reports: ``OSError`` with an errno.

The service layer answers an ``OSError`` of a store with a 503 (or a 507 when
its errno says the store is full), so every error of the S3 client that is a
fault of the store or the way to it (no connection, a timeout, a refusal)
becomes one here, saying what failed in one line without credentials. "No
such key" is not a fault: the store's methods check for it first
(:func:`is_not_found`).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as URLLib3Error

# Error codes of S3-compatible stores that mean "no space left" (a 507).
STORE_FULL_CODES = frozenset(
    {"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded", "InsufficientStorage"}
)
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# A conditional write (If-None-Match) that another writer beat.
LOST_CONDITION_CODES = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(error: BaseException) -> bool:
    """Whether ``error`` says the object does not exist (not that the bucket is missing)."""
    return error_code(error) in NOT_FOUND_CODES


def lost_conditional_write(error: BaseException) -> bool:
    """Whether ``error`` says a conditional write found the object already there."""
    return error_code(error) in LOST_CONDITION_CODES


def as_os_error(error: BaseException, action: str) -> OSError:
    """The ``OSError`` a store fault means; its strerror is what clients are told."""
    if isinstance(error, (ConnectTimeoutError, EndpointConnectionError)):
        return OSError(errno.ECONNREFUSED, f"S3 store unreachable while {action}")
    if isinstance(error, NoCredentialsError):
        return OSError(
            errno.EACCES,
            f"no S3 credentials found while {action} (boto3 looks in AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, a web identity token, the instance role)",
        )
    if isinstance(error, ReadTimeoutError):
        return OSError(errno.ETIMEDOUT, f"S3 store did not answer in time while {action}")
    code = error_code(error)
    if code in STORE_FULL_CODES:
        return OSError(errno.ENOSPC, f"S3 store full ({code}) while {action}")
    if code:
        message = error.response.get("Error", {}).get("Message", "")  # type: ignore[attr-defined]
        return OSError(errno.EIO, f"S3 error {code} while {action}: {message}".rstrip(": "))
    return OSError(errno.EIO, f"S3 store failed while {action}: {type(error).__name__}")


@contextlib.contextmanager
def s3_faults(action: str) -> Iterator[None]:
    """Turn an error of the S3 client during ``action`` into an ``OSError``."""
    try:
        yield
    except (BotoCoreError, ClientError, URLLib3Error) as error:
        raise as_os_error(error, action) from error
