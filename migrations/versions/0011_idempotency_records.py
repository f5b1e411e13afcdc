"""idempotency records: one table of first answers for every creating POST

Job submissions kept their Idempotency-Key on `jobs`; every creating POST now keeps it in
`idempotency_records` (a job submission's record points at its job). Live keys move over.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02 07:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table(
        'idempotency_records',
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('body', JSON, nullable=True),
        sa.Column('headers', JSON, nullable=False),
        sa.Column('job_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['job_id'], ['jobs.id'],
            name=op.f('fk_idempotency_records_job_id_jobs'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency_records')),
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False
        )
    op.execute(
        "INSERT INTO idempotency_records "
        "(key, fingerprint, status_code, body, headers, job_id, created_at) "
        "SELECT idempotency_key, request_fingerprint, 202, NULL, '{}', id, created_at "
        "FROM jobs WHERE idempotency_key IS NOT NULL AND request_fingerprint IS NOT NULL"
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_jobs_idempotency_key'), type_='unique')
        batch_op.drop_column('request_fingerprint')
        batch_op.drop_column('idempotency_key')


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('request_fingerprint', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_jobs_idempotency_key'), ['idempotency_key']
        )
    op.execute(
        "UPDATE jobs SET "
        "idempotency_key = (SELECT r.key FROM idempotency_records r WHERE r.job_id = jobs.id), "
        "request_fingerprint = "
        "(SELECT r.fingerprint FROM idempotency_records r WHERE r.job_id = jobs.id)"
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_records_created_at'))
    op.drop_table('idempotency_records')
