"""docs/roles.md carries the permission matrix generated from the code: this test fails
when the two drift. ``SHOPCRM_UPDATE_DOCS=1 pytest tests/web/test_roles_doc.py``
rewrites the table in place."""

from __future__ import annotations

import os
from pathlib import Path

from shopcrm.accounts.permissions import BUILTIN_ROLES, DESCRIPTIONS, Permission

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
BEGIN = "<!-- permission-matrix: generated from shopcrm.accounts.permissions -->"
END = "<!-- /permission-matrix -->"


def permission_matrix() -> str:
    roles = list(BUILTIN_ROLES)
    lines = ["| permission | what it allows | " + " | ".join(roles) + " |",
             "|---|---|" + "|".join(":-:" for _ in roles) + "|"]
    for permission in Permission:
        marks = " | ".join("✓" if permission in BUILTIN_ROLES[r] else "" for r in roles)
        lines.append(f"| `{permission.value}` | {DESCRIPTIONS[permission]} | {marks} |")
    return "\n".join(lines)


def test_roles_doc_matches_the_permission_matrix() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    fresh = f"{head}{BEGIN}\n{permission_matrix()}\n{END}{tail}"
    if os.environ.get("SHOPCRM_UPDATE_DOCS") and text != fresh:
        DOC.write_text(fresh, encoding="utf-8")
        return
    assert text == fresh, "docs/roles.md is out of date: run with SHOPCRM_UPDATE_DOCS=1"


def test_every_permission_is_described() -> None:
    assert set(DESCRIPTIONS) == set(Permission)
