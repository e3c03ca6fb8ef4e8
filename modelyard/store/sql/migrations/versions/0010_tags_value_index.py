"""An index on run tags' values, for searches that filter on a tag's value
(``tags.mlflow.parentRunId = '<id>'``: a run page's child runs). Without it such a search tests
every run of the experiment against the ``(run_id, key)`` primary key; with it the database reads
the few tag rows holding the value and looks their runs up.

One column (``value``), so that one declaration fits every database:

- SQLite: a plain index.
- PostgreSQL: a hash index. A b-tree entry must fit in a third of a page (~2,700 bytes) and a tag
  value may be 8,000 characters; a hash index stores the value's 4-byte hash, so any value can be
  indexed, and it serves exactly the equality these searches need.
- MariaDB/MySQL: a prefix index on the first 255 characters (``value`` is a ``VARCHAR(8000)``,
  longer than an index key may be); the rows it finds are checked against the whole value.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "ix_tags_value"
MYSQL_PREFIX = 255  # characters of the value in the MariaDB/MySQL index


def upgrade() -> None:
    op.create_index(NAME, "tags", ["value"], postgresql_using="hash", mysql_length={"value": MYSQL_PREFIX})


def downgrade() -> None:
    op.drop_index(NAME, table_name="tags")
