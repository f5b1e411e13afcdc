"""one itinerary per job; webhook secrets owned by the job pipeline

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def restore_username_index_on_sqlite():
    """SQLite's batch mode copies the table and cannot see expression indexes: put it back."""
    if op.get_bind().dialect.name == "sqlite":
        op.create_index('uq_users_username_lower', 'users', [sa.literal_column('lower(username)')], unique=True)


def upgrade():
    # A job re-run after a worker died could add a second itinerary: keep the first one's link.
    op.execute(
        """
        UPDATE itineraries SET job_id = NULL
        WHERE job_id IS NOT NULL AND id NOT IN (
            SELECT id FROM (
                SELECT id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY created_at, id) AS n
                FROM itineraries WHERE job_id IS NOT NULL
            ) AS ranked WHERE n = 1
        )
        """
    )
    with op.batch_alter_table('itineraries', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_itineraries_job_id'), ['job_id'])

    op.create_table('webhook_secrets',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('secret', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_webhook_secrets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_webhook_secrets'))
    )
    op.execute(
        """
        INSERT INTO webhook_secrets (user_id, secret, created_at, updated_at)
        SELECT id, webhook_secret, created_at, updated_at FROM users
        WHERE webhook_secret IS NOT NULL
        """
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret')
    restore_username_index_on_sqlite()


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=80), nullable=True))
    op.execute(
        """
        UPDATE users SET webhook_secret = (
            SELECT secret FROM webhook_secrets WHERE webhook_secrets.user_id = users.id
        )
        """
    )
    op.drop_table('webhook_secrets')
    with op.batch_alter_table('itineraries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_itineraries_job_id'), type_='unique')
