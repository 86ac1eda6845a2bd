from django.db import migrations

from apps.core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    """Trigram indexes for the unit search of the codes window and the units list (issue 16): a name
    containing the text (``UPPER(name) LIKE '%…%'``) and an IMEI starting with it, answered by a GIN index
    instead of a scan of every unit. PostgreSQL only (``pg_trgm``); SQLite scans, as before."""

    dependencies = [("units", "0005_unit_hot_deactivation")]

    operations = [
        PostgresOnlySQL(
            sql="""
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX unit_name_trgm ON units_unit USING gin (UPPER(name::text) gin_trgm_ops);
                CREATE INDEX unit_unique_id_trgm ON units_unit USING gin (UPPER(unique_id::text) gin_trgm_ops);
            """,
            reverse_sql="DROP INDEX IF EXISTS unit_name_trgm; DROP INDEX IF EXISTS unit_unique_id_trgm;",
        ),
    ]
