"""lifecycle_transitions (append-only stage changes found by the features job)

Revision ID: 0020
Revises: 0010

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lifecycle_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_transitions")),
    )
    with op.batch_alter_table("lifecycle_transitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lifecycle_transitions_customer", ["customer_id", "at"], unique=False
        )
        batch_op.create_index("ix_lifecycle_transitions_run", ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_transitions_run")
        batch_op.drop_index("ix_lifecycle_transitions_customer")

    op.drop_table("lifecycle_transitions")
