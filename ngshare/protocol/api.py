"""The fixed terms of the own API that server and clients must agree on.

Where it lives under the service's prefix, the header that makes a submission
safe to send again, and the most one request may name: files in a manifest,
blobs in a body, hashes in a question. A client that keeps to these is never
refused for size of request alone.
"""

from __future__ import annotations

API_PATH = "api/v2/"

# A client sends the same key when it retries a submission; the server
# answers a repeated key with the first result instead of submitting again.
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 128

MAX_FILES_PER_REQUEST = 10_000
