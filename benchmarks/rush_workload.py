"""The files of a deadline rush: released notebooks, a shared data file, submissions.

Notebooks are nbformat 4 JSON shaped like nbgrader's: markdown prose, example
code with outputs (text, HTML tables, PNG plots), solution cells and autograder
tests. A released notebook is the same for everyone; each student submits it
with their own answers executed, so every submitted notebook differs. The data
file is binary (a ``.npy`` array), released once and submitted back unchanged
by every student, as nbgrader's submit sends the whole assignment folder.

Everything is generated from a seed, so all targets of one run move exactly
the same bytes.
"""

from __future__ import annotations

import base64
import json
import random
import struct
from dataclasses import dataclass
from typing import Any

NOTEBOOKS = ("problem1.ipynb", "problem2.ipynb", "problem3.ipynb")
DATA_FILE = "data/measurements.npy"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_WORD_TEXT = (
    "the a of to and in is that for it as with be on by this are we model data value "
    "array mean variance sample function plot figure axis column row table index "
    "result error estimate parameter regression fit predict train test score loss "
    "gradient step iteration converge matrix vector norm distance cluster label "
    "feature weight bias probability distribution normal uniform random seed "
    "compute return print list dictionary string integer float loop condition"
)
WORDS = _WORD_TEXT.split()
NAMES = ("x", "y", "df", "values", "weights", "result", "scores", "counts", "grid", "theta")
CALLS = ("np.mean", "np.std", "np.sum", "np.linspace", "np.cumsum", "np.sqrt", "sorted", "len")


@dataclass(frozen=True)
class Workload:
    """What the rush moves: the release and each student's submission."""

    course: str
    assignment: str
    instructor: str
    students: tuple[str, ...]
    release: dict[str, bytes]
    submissions: dict[str, dict[str, bytes]]

    @property
    def release_bytes(self) -> int:
        return sum(len(b) for b in self.release.values())

    def submission_bytes(self, student: str) -> int:
        return sum(len(b) for b in self.submissions[student].values())


def _prose(rng: random.Random, count: int) -> str:
    text = " ".join(rng.choices(WORDS, k=count))
    return text[0].upper() + text[1:] + "."


def _code(rng: random.Random, lines: int) -> list[str]:
    out = ["import numpy as np\n"]
    for _ in range(lines):
        name, other = rng.choice(NAMES), rng.choice(NAMES)
        call = rng.choice(CALLS)
        out.append(f"{name} = {call}({other}) * {rng.uniform(0.1, 9.9):.3f}  # {_prose(rng, 4)}\n")
    out.append(f"print({rng.choice(NAMES)})")
    return out


def _stream(rng: random.Random, lines: int) -> dict[str, Any]:
    numbers = [" ".join(f"{rng.gauss(0, 10):9.4f}" for _ in range(8)) + "\n" for _ in range(lines)]
    return {"name": "stdout", "output_type": "stream", "text": numbers}


def _html_table(rng: random.Random, rows: int, count: int) -> dict[str, Any]:
    cells = "".join(
        "<tr><th>"
        + str(r)
        + "</th>"
        + "".join(f"<td>{rng.random():.6f}</td>" for _ in range(6))
        + "</tr>\n"
        for r in range(rows)
    )
    html = f'<table border="1" class="dataframe">\n<tbody>\n{cells}</tbody>\n</table>'
    return {
        "data": {"text/html": [html], "text/plain": [f"<DataFrame {rows} rows x 6 columns>"]},
        "execution_count": count,
        "metadata": {},
        "output_type": "execute_result",
    }


def _png(rng: random.Random) -> dict[str, Any]:
    # A plot is compressed image data: base64 of high-entropy bytes.
    raw = PNG_SIGNATURE + rng.randbytes(rng.randint(6_000, 18_000))
    return {
        "data": {
            "image/png": base64.b64encode(raw).decode("ascii"),
            "text/plain": ["<Figure size 640x480 with 1 Axes>"],
        },
        "metadata": {"needs_background": "light"},
        "output_type": "display_data",
    }


def _cell(kind: str, source: list[str] | str, **extra: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    cell.update(extra)
    return cell


def _grade_meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _dump(cells: list[dict[str, Any]], title: str) -> bytes:
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11.4"},
            "title": title,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    # How Jupyter writes notebooks to disk.
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def release_cells(rng: random.Random, target_bytes: int, name: str) -> list[dict[str, Any]]:
    """The released notebook: prose, worked examples with outputs, empty solutions."""
    cells: list[dict[str, Any]] = [_cell("markdown", [f"# {name}\n", "\n", _prose(rng, 60)])]
    size = 0
    index = 0
    # Leave room for the answers a student adds (they grow the notebook ~10 %).
    while size < target_bytes * 0.9:
        index += 1
        roll = rng.random()
        if roll < 0.35:
            cell = _cell(
                "markdown", [f"## Part {index}\n", "\n", _prose(rng, rng.randint(40, 160))]
            )
        elif roll < 0.7:
            outputs = [_stream(rng, rng.randint(3, 12))]
            if rng.random() < 0.3:
                outputs.append(_html_table(rng, rng.randint(5, 20), index))
            if rng.random() < 0.25:
                outputs.append(_png(rng))
            cell = _cell(
                "code", _code(rng, rng.randint(3, 15)), execution_count=index, outputs=outputs
            )
        elif roll < 0.88:
            cell = _cell(
                "code",
                ["# YOUR CODE HERE\n", "raise NotImplementedError()"],
                metadata=_grade_meta(f"answer_{index}", solution=True, grade=False),
            )
        else:
            source = [f"assert abs({rng.choice(NAMES)} - {rng.random():.4f}) < 1e-3\n"] * 3
            cell = _cell(
                "code",
                source,
                metadata=_grade_meta(f"test_{index}", solution=False, grade=True, points=2),
            )
        cells.append(cell)
        size += len(json.dumps(cell, indent=1)) + 20
    return cells


def answered_cells(rng: random.Random, released: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A student's copy: every solution written and every code cell run."""
    cells: list[dict[str, Any]] = []
    count = 0
    for cell in released:
        if cell["cell_type"] != "code":
            cells.append(cell)
            continue
        count += 1
        solution = cell["metadata"].get("nbgrader", {}).get("solution", False)
        source = _code(rng, rng.randint(4, 14)) if solution else cell["source"]
        outputs = [_stream(rng, rng.randint(2, 8))] if solution else list(cell["outputs"])
        if not outputs:
            outputs = [_stream(rng, 1)]
        cells.append({**cell, "source": source, "outputs": outputs, "execution_count": count})
    return cells


def data_file(rng: random.Random, size: int) -> bytes:
    """A ``.npy`` file of float64 measurements (a random walk): binary, barely compressible."""
    count = max(1, (size - 128) // 8)
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({count},), }}"
    header = header.ljust(128 - 10 - 1) + "\n"
    walk, values = 0.0, []
    for _ in range(count):
        walk += rng.gauss(0, 1)
        values.append(walk)
    prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1")
    return prefix + struct.pack(f"<{count}d", *values)


def make_workload(
    *,
    students: int,
    notebook_kb: float,
    data_mb: float,
    seed: int = 2024,
    course: str = "rush101",
    assignment: str = "ps1",
) -> Workload:
    names = tuple(f"student{n:04d}" for n in range(1, students + 1))
    target = int(notebook_kb * 1000)
    released: dict[str, list[dict[str, Any]]] = {}
    release: dict[str, bytes] = {}
    for n, path in enumerate(NOTEBOOKS):
        released[path] = release_cells(random.Random(f"{seed}:release:{n}"), target, path)
        release[path] = _dump(released[path], path)
    release[DATA_FILE] = data_file(random.Random(f"{seed}:data"), int(data_mb * 1_000_000))
    submissions: dict[str, dict[str, bytes]] = {}
    for student in names:
        files = {
            path: _dump(answered_cells(random.Random(f"{seed}:{student}:{path}"), cells), path)
            for path, cells in released.items()
        }
        files[DATA_FILE] = release[DATA_FILE]
        submissions[student] = files
    return Workload(course, assignment, "instructor", names, release, submissions)
