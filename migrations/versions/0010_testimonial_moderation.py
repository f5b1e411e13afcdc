"""testimonials wait for a moderator: users.testimonial_status (pending, approved, rejected)

Testimonials that exist already were public under the old rules: they are kept public
(approved), so the site does not lose them overnight; every new or edited one waits.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def restore_username_index_on_sqlite():
    """SQLite's batch mode copies the table and cannot see expression indexes: put it back."""
    if op.get_bind().dialect.name == "sqlite":
        op.create_index('uq_users_username_lower', 'users', [sa.literal_column('lower(username)')], unique=True)


def upgrade():
    # Nullable columns and an index: an ALTER in place, on SQLite too (no table copy).
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('testimonial_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('testimonial_moderated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_users_testimonial_status', ['testimonial_status'], unique=False)
    op.execute(
        "UPDATE users SET testimonial_status = 'approved' "
        "WHERE testimonial IS NOT NULL AND testimonial != ''"
    )


def downgrade():
    # The testimonials stay; without the column every one of them is public again.
    with op.batch_alter_table('users', schema=None) as batch_op:  # SQLite: a table copy
        batch_op.drop_index('ix_users_testimonial_status')
        batch_op.drop_column('testimonial_moderated_at')
        batch_op.drop_column('testimonial_status')
    restore_username_index_on_sqlite()
