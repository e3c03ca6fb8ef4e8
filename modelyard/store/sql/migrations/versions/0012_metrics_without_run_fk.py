"""``metrics.run_id`` no longer has a foreign key to ``runs.id``.

The key was checked for every point inserted: PostgreSQL runs its referential-integrity trigger per
row (an index probe and a row lock on the run), which measured 5 of the 9 ms an INSERT of 1,000
points takes here, the largest single cost of ``log-batch``. It guarded nothing the store does not
already guarantee:

- every write of points first locks the run's row and checks that the run exists and is active,
  in the same transaction (``SELECT ... FOR NO KEY UPDATE`` on PostgreSQL, the write lock on
  SQLite), so a point can never name a missing run;
- runs are never deleted from the table (deleting a run marks it ``deleted``), so nothing can
  leave points behind; a future permanent delete must delete the run's points itself (the key's
  ``ON DELETE CASCADE`` is gone with it).

The other children of a run (``latest_metrics``, ``params``, ``tags``) keep their keys: they take a
few rows per request. SQLite rebuilds the table (Alembic's batch mode: copy, drop, rename, indexes
again), which takes a while on a large database; PostgreSQL and MariaDB/MySQL drop the constraint.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# SQLite's key is unnamed: batch mode names what it reflects by this convention, to drop it by name
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK = "fk_metrics_run_id_runs"
# the names PostgreSQL and MariaDB give a key created without one, as revision 0001 created it
RESTORED_FK = {"postgresql": "metrics_run_id_fkey", "mysql": "metrics_ibfk_1", "mariadb": "metrics_ibfk_1"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("metrics", recreate="always", naming_convention=SQLITE_NAMES) as batch:
            batch.drop_constraint(SQLITE_FK, type_="foreignkey")
        return
    for fk in sa.inspect(bind).get_foreign_keys("metrics"):
        if fk["referred_table"] == "runs":
            op.drop_constraint(fk["name"], "metrics", type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("metrics", recreate="always") as batch:
            batch.create_foreign_key(SQLITE_FK, "runs", ["run_id"], ["id"], ondelete="CASCADE")
        return
    name = RESTORED_FK.get(bind.dialect.name)
    op.create_foreign_key(name, "metrics", "runs", ["run_id"], ["id"], ondelete="CASCADE")
