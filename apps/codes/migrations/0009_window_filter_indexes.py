from django.db import migrations, models

from apps.core.migration_operations import PostgresOnlySQL


class Migration(migrations.Migration):
    """The codes window's filters at 3,000,000 codes (issue 16, item 4): every filter's first page and capped
    count read one index range that holds only its rows (docs/decisions.md, "Issue 16: the codes window's
    filters")."""

    dependencies = [
        ('accounts', '0005_ledger_first_position'),
        ('codes', '0008_codes_figures_covering_index'),
        ('units', '0007_window_filter_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='activationcode',
            index=models.Index(condition=models.Q(('status', 'expired')), fields=['service', '-created_at', 'id'], name='code_service_expired'),
        ),
        migrations.AddIndex(
            model_name='activationcode',
            index=models.Index(condition=models.Q(('status', 'active'), ('unit__isnull', True)), fields=['service', 'expires_at'], name='code_service_free_expiry'),
        ),
        # Queued codes, newest first, by planned start: "queued" (start ahead) and the queued codes whose start
        # has passed before the sweep started them ("active on a unit") are each a range of activated_at, so
        # neither walks past the other nor past the live codes (code_live_knn holds both kinds). PostgreSQL
        # only (btree_gist, created by 0007); elsewhere the window reads the b-trees.
        PostgresOnlySQL(
            sql="""
                CREATE INDEX code_queued_knn ON codes_activationcode
                    USING gist (service_id, holder_branch, activated_at, expires_at, created_at)
                    WHERE status = 'queued';
            """,
            reverse_sql="DROP INDEX IF EXISTS code_queued_knn;",
        ),
        # The live codes' GiST index also by activation: the "activated" date range of the window (live codes)
        # prunes whole subtrees by activation as it does by expiry, instead of reading every live code
        # nearest first and keeping those activated in the range (128,885 read and removed when none was).
        PostgresOnlySQL(
            sql="""
                DROP INDEX IF EXISTS code_live_knn;
                CREATE INDEX code_live_knn ON codes_activationcode
                    USING gist (service_id, holder_branch, expires_at, activated_at, created_at)
                    WHERE status IN ('active', 'queued');
            """,
            reverse_sql="""
                DROP INDEX IF EXISTS code_live_knn;
                CREATE INDEX code_live_knn ON codes_activationcode
                    USING gist (service_id, holder_branch, expires_at, created_at)
                    WHERE status IN ('active', 'queued');
            """,
        ),
    ]
