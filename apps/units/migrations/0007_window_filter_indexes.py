from django.db import migrations

from apps.core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    """The codes window's IMEI search (issue 16, item 4): "an IMEI starting with the text" is a range of a
    b-tree in pattern order (``UPPER(unique_id) LIKE '35000000%'`` reads the matching IMEIs only). The trigram
    index of 0006 answers it too, but IMEIs share their leading digits: every trigram of ``35000000`` is in
    every IMEI of a fleet, so it returned all 100,000 units to recheck (200 ms for a distributor, whose units
    are a tenth of them), and PostgreSQL kept choosing it while it existed. Every search of an IMEI is by its
    start (``unique_id__istartswith``, the unit list's ``^unique_id``), so the b-tree replaces it. PostgreSQL
    only; SQLite scans, as before."""

    dependencies = [("units", "0006_unit_search_trigram")]

    operations = [
        PostgresOnlySQL(
            sql="""
                CREATE INDEX unit_unique_id_prefix ON units_unit (UPPER(unique_id::text) text_pattern_ops);
                DROP INDEX IF EXISTS unit_unique_id_trgm;
            """,
            reverse_sql="""
                CREATE INDEX unit_unique_id_trgm ON units_unit USING gin (UPPER(unique_id::text) gin_trgm_ops);
                DROP INDEX IF EXISTS unit_unique_id_prefix;
            """,
        ),
    ]
