"""The team view's first schema: systems, reports, practice_results, tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "systems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("team", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("latest_score_id", sa.Integer),
        sa.Column("latest_monitor_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("system_id", sa.Integer, sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("publish_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("commit", sa.String(64)),
        sa.Column("registry_version", sa.Integer),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("final", sa.Float),
        sa.Column("band", sa.String(40), nullable=False),
        sa.Column("data", sa.Float),
        sa.Column("model", sa.Float),
        sa.Column("infra", sa.Float),
        sa.Column("monitor", sa.Float),
        sa.Column("failing", sa.Text, nullable=False),
        sa.Column("canary", sa.String(40)),
        sa.Column("canary_at", sa.String(40)),
        sa.Column("keel_version", sa.String(40), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_reports_system_kind_run", "reports", ["system_id", "kind", "run_at"])
    op.create_table(
        "practice_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("system_id", sa.Integer, sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("practice", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("hint", sa.Text, nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_practice_results_report_practice", "practice_results", ["report_id", "practice"]
    )
    op.create_index(
        "ix_practice_results_system_practice_run",
        "practice_results",
        ["system_id", "practice", "run_at"],
    )
    op.create_index(
        "ix_practice_results_practice_status", "practice_results", ["practice", "status"]
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    for table in ("tokens", "practice_results", "reports", "systems"):
        op.drop_table(table)
