#!/usr/bin/env bash
# Creates MLflow's own role and database beside Airflow's metadata database.
#
# The postgres image runs /docker-entrypoint-initdb.d/* only when its data volume is empty, i.e. on the
# first `docker compose up`. On a volume created before this script existed, run it by hand:
#   docker compose exec -e MLFLOW_DB_PASSWORD=... postgres bash /docker-entrypoint-initdb.d/10-create-mlflow-db.sh
# Both statements are guarded, so running it twice changes nothing.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v mlflow_password="${MLFLOW_DB_PASSWORD:-mlflow}" <<'SQL'
SELECT format('CREATE ROLE mlflow LOGIN PASSWORD %L', :'mlflow_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow')
\gexec
SELECT 'CREATE DATABASE mlflow OWNER mlflow'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow')
\gexec
SQL
