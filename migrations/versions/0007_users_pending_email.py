"""users.pending_email: a new address waits for its owner's confirmation

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def restore_username_index_on_sqlite():
    """SQLite's batch mode copies the table and cannot see expression indexes: put it back."""
    if op.get_bind().dialect.name == "sqlite":
        op.create_index('uq_users_username_lower', 'users', [sa.literal_column('lower(username)')], unique=True)


def upgrade():
    # Adding a nullable column is an ALTER in place, on SQLite too: no table copy, index kept.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_email', sa.String(length=254), nullable=True))


def downgrade():
    # Pending changes are dropped: the accounts keep their confirmed addresses.
    with op.batch_alter_table('users', schema=None) as batch_op:  # SQLite: a table copy
        batch_op.drop_column('pending_email')
    restore_username_index_on_sqlite()
