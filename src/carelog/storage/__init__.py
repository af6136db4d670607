"""SQL and the database: psycopg 3, named queries in .sql files, migrations. Never commits."""
