"""A nearest-first index of open requests, for the member feed on PostgreSQL.

A GiST index on point(lng, lat) of open requests, covering lat, lng and id, so that
``ORDER BY point(lng, lat) <-> point(...) LIMIT n`` reads only the n nearest index entries
whatever the density (services.matching.queries.nearest_open_knn). PostgreSQL only: SQLite has
no such index and reads the grid rings of migration 0006 instead; Django's Meta.indexes cannot
name one database, so the index is created here and nowhere else.
"""

from django.db import migrations

INDEX = "request_open_nearest"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("services", "ServiceRequest")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX {schema_editor.quote_name(INDEX)} ON {table}"
        " USING gist (point(lng, lat)) INCLUDE (lat, lng, id) WHERE status = 'open'"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(INDEX)}")


class Migration(migrations.Migration):
    dependencies = [
        ("services", "0006_request_grid"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
