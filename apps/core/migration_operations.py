"""Migration operations Django has no option for."""

from django.db.migrations.operations.base import Operation


class SetFillfactor(Operation):
    """``ALTER TABLE … SET (fillfactor = N)`` on PostgreSQL; nothing elsewhere.

    For tables whose rows are updated in bulk by the jobs (balances, watermarks): the free room
    left on each page lets PostgreSQL update a row in place (a HOT update) without writing a new
    entry in every index of the table. It applies to pages written from now on; an existing table
    gets it as its rows move (no rewrite here: that would lock the table).
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, fillfactor: int):
        if not 10 <= fillfactor <= 100:
            raise ValueError("fillfactor is between 10 and 100")
        self.model_name = model_name
        self.fillfactor = fillfactor

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "fillfactor": self.fillfactor}

    def state_forwards(self, app_label, state):
        """Storage only: the models' state is the same before and after."""

    def _alter(self, app_label, schema_editor, state, setting: str):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = state.apps.get_model(app_label, self.model_name)._meta.db_table
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} {setting}")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._alter(app_label, schema_editor, to_state, f"SET (fillfactor = {int(self.fillfactor)})")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._alter(app_label, schema_editor, to_state, "RESET (fillfactor)")

    def describe(self):
        return f"Set fillfactor {self.fillfactor} on {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_fillfactor"


class PostgresOnlySQL(Operation):
    """Raw SQL run on PostgreSQL only (extensions, GiST and trigram indexes); nothing elsewhere.

    For indexes Django's model state need not know: the queries that use them are written so that
    SQLite answers the same rows without them."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, sql: str, reverse_sql: str):
        self.sql = sql
        self.reverse_sql = reverse_sql

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"sql": self.sql, "reverse_sql": self.reverse_sql}

    def state_forwards(self, app_label, state):
        """Storage only: the models' state is the same before and after."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(self.sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(self.reverse_sql)

    def describe(self):
        return "SQL on PostgreSQL only"
