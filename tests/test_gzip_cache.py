"""The cache of compressed variants: what it keeps, and what a large collect costs it."""

from __future__ import annotations

import gzip
import json

import pytest

from ngshare.server.storage.blobs.gzip_cache import GzipCache

pytestmark = pytest.mark.database_independent


def notebook(n: int) -> bytes:
    return json.dumps({"cells": [f"cell {i} of notebook {n}" for i in range(400)]}).encode()


class CountingReads:
    """Blob contents by name, counting how often the cache had to read (compress) one."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.reads: list[str] = []

    def get(self, cache: GzipCache, name: str) -> bytes | None:
        def read() -> list[bytes]:
            self.reads.append(name)
            return [self.blobs[name]]

        return cache.get_or_compress(name, len(self.blobs[name]), read)


def test_a_compressed_variant_is_made_once_and_inflates_to_the_blob() -> None:
    blobs = CountingReads({"a": notebook(1)})
    cache = GzipCache(budget=10**6, max_blob_size=10**6)
    first, second = blobs.get(cache, "a"), blobs.get(cache, "a")
    assert first is not None and first == second
    assert gzip.decompress(first) == notebook(1)
    assert blobs.reads == ["a"]


def test_an_offered_member_is_served_as_sent_unless_it_saves_too_little() -> None:
    text = notebook(2)
    member = gzip.compress(text, compresslevel=9, mtime=42)
    cache = GzipCache(budget=10**6, max_blob_size=10**6)
    cache.offer("a", len(text), member)
    assert CountingReads({"a": text}).get(cache, "a") == member
    # A member hardly smaller than the blob is not worth sending compressed.
    cache.offer("b", len(text), text)
    blobs = CountingReads({"b": text})
    assert blobs.get(cache, "b") != text
    assert blobs.reads == ["b"]
    # With the cache off, nothing is kept.
    off = GzipCache(budget=0, max_blob_size=10**6)
    off.offer("a", len(text), member)
    assert CountingReads({"a": text}).get(off, "a") != member


def test_a_collect_larger_than_the_budget_compresses_only_what_was_evicted() -> None:
    submissions = {f"s{n}": notebook(n) for n in range(40)}
    members = {name: gzip.compress(data, compresslevel=1) for name, data in submissions.items()}
    # Room for about 30 of the 40 members the students uploaded.
    budget = sum(len(m) for m in members.values()) * 3 // 4
    cache = GzipCache(budget=budget, max_blob_size=10**6)
    for name, member in members.items():
        cache.offer(name, len(submissions[name]), member)
    blobs = CountingReads(submissions)
    collected = {name: blobs.get(cache, name) for name in submissions}
    assert all(gzip.decompress(v or b"") == submissions[k] for k, v in collected.items())
    # The oldest uploads were evicted and are compressed again; compressing
    # them evicted nothing the collect still needed.
    assert blobs.reads == [f"s{n}" for n in range(len(blobs.reads))]
    assert 5 <= len(blobs.reads) <= 15
    assert all(collected[name] == members[name] for name in submissions if name not in blobs.reads)


def test_a_variant_asked_for_twice_stays_while_others_come_and_go() -> None:
    released = notebook(0)
    others = {f"s{n}": notebook(n) for n in range(1, 60)}
    blobs = CountingReads({"release": released, **others})
    cache = GzipCache(budget=len(gzip.compress(released)) * 10, max_blob_size=10**6)
    blobs.get(cache, "release")
    for name, data in others.items():
        blobs.get(cache, "release")  # every student fetches the release
        cache.offer(name, len(data), gzip.compress(data, compresslevel=1))
    assert blobs.reads == ["release"]
