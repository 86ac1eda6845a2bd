"""The audit chain's link as a PostgreSQL aggregate, so a set-based job hashes its events in the statement
that writes them (``apps.accounts.audit.record_select``) instead of staging them for Python to link.

``audit_link(state, head, seq, digest)`` is ``audit.link``: ``sha256(previous | seq | digest)`` in hex, where
``previous`` is the running state or, for a chain's first new event, the chain's head hash.
``audit_chain_hash(head, seq, digest)`` folds it; used as a window function ordered by ``seq`` it gives each
event its hash. PostgreSQL only: elsewhere ``record_select`` is not used (the ORM paths call ``record_many``).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_link(state text, head text, seq bigint, digest text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN encode(sha256(convert_to(COALESCE(state, head) || '|' || seq::text || '|' || digest, 'UTF8')), 'hex');
END
$$;
CREATE OR REPLACE AGGREGATE audit_chain_hash(text, bigint, text) (SFUNC = audit_link, STYPE = text);
"""

DROP = """
DROP AGGREGATE IF EXISTS audit_chain_hash(text, bigint, text);
DROP FUNCTION IF EXISTS audit_link(text, text, bigint, text);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0010_translatable_labels"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
