"""Migrations: head matches the ORM, versions are checked, every table is append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from govkit.errors import BadInput
from govkit.registry import open_registry
from govkit.registry.db import current_revision, head_revision, make_engine
from govkit.registry.tables import APPEND_ONLY_TABLES, Base


def test_fresh_database_is_migrated_to_head(registry):
    assert current_revision(registry.engine) == head_revision()


def test_orm_and_migration_head_agree(registry):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with registry.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_migrations_make_every_orm_table_append_only(registry):
    """Each table has UPDATE and DELETE triggers after the migrations ran."""
    from sqlalchemy import text as sql

    with registry.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                sql(
                    "SELECT event_object_table FROM information_schema.triggers "
                    "WHERE event_manipulation IN ('UPDATE', 'DELETE')"
                )
            ).all()
        else:
            rows = conn.execute(sql("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")).all()
    assert {r[0] for r in rows} == set(APPEND_ONLY_TABLES)


def _one_row_in_every_table(session) -> None:
    import datetime as dt

    from govkit.registry import tables as m
    from govkit.registry.audit import append_event

    now = dt.datetime.now(dt.timezone.utc)
    run = m.DeidRun(
        id="run-1",
        profile_revision="2024b",
        options=[],
        key_fingerprint="f" * 64,
        counts={},
        n_files=0,
        n_ok=0,
        n_failed=0,
        n_skipped=0,
        software={},
        started_at=now,
        finished_at=now,
        created_by="t",
    )
    ds = m.Dataset(name="d")
    dv = m.DatasetVersion(
        dataset=ds, version="1", content_sha256="0" * 64, manifest={}, deid_run_id="run-1", created_by="t"
    )
    mv = m.ModelVersion(
        model=m.Model(name="m"),
        version="1",
        artifact_sha256="0" * 64,
        spec={},
        spec_sha256="0" * 64,
        created_by="t",
    )
    session.add_all([run, ds, dv, mv])
    session.flush()
    ev = m.Evaluation(model_version_id=mv.id, kind="performance", config={}, device="cpu", software={}, created_by="t")
    ra = m.RiskAssessment(model_version_id=mv.id, revision=1, matrix={}, author="t")
    inc = m.Incident(model_version_id=mv.id, description="x", severity="low", reported_by="t")
    signer = m.Signer(name="s", roles=["r"], public_key="k", fingerprint="f" * 64, added_by="t")
    session.add_all([ev, ra, inc, signer])
    session.flush()
    session.add_all(
        [
            m.ModelTrainingData(model_version_id=mv.id, dataset_version_id=dv.id),
            m.StageTransition(model_version_id=mv.id, to_state="draft", actor="t"),
            m.Metric(evaluation_id=ev.id, name="auc", value=0.5),
            m.Artifact(evaluation_id=ev.id, name="a", path="p", sha256="0" * 64, media_type="text/plain"),
            m.RiskItem(
                assessment_id=ra.id,
                hazard="h",
                hazardous_situation="s",
                harm="x",
                severity=1,
                probability=1,
                risk_level="low",
            ),
            m.Approval(model_version_id=mv.id, signer="t", role="r", decision="approve", meaning="ok"),
            m.IncidentUpdate(incident_id=inc.id, status="open", actor="t"),
            m.Report(kind="card", subject="m@1", pdf_sha256="0" * 64, template_version="1", created_by="t"),
            m.PolicyAttachment(
                model_version_id=mv.id,
                policy_name="p",
                policy_version="1",
                content="x",
                sha256="0" * 64,
                attached_by="t",
            ),
            m.DataAudit(dataset_version_id=dv.id, against=[], result={}, sha256="0" * 64, created_by="t"),
            m.SignerRevocation(signer_id=signer.id, reason="left", revoked_by="t"),
            m.PolicyRecord(name="p", version="1", sha256="0" * 64, content="x", created_by="t"),
            m.PolicyOverride(
                model_version_id=mv.id,
                from_state="validated",
                to_state="approved",
                policy_sha256="0" * 64,
                reason="r",
                signer_id=signer.id,
                role="r",
                fingerprint="f" * 64,
                signed_content={},
                signature="s",
            ),
            m.CardRevision(model_version_id=mv.id, revision=1, card={}, reason="r", created_by="t"),
            m.Document(model_version_id=mv.id, kind="k", name="n", sha256="0" * 64, created_by="t"),
            m.Registration(model_version_id=mv.id),
        ]
    )
    append_event(session, "test", "thing", 1)


@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_triggers_refuse_rewrites(registry, verb):
    from sqlalchemy import func, select
    from sqlalchemy import table as sql_table

    with registry.unit_of_work() as s:
        _one_row_in_every_table(s)
    for table in APPEND_ONLY_TABLES:
        with registry.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(sql_table(table))).scalar() == 1, table
        sql = f"DELETE FROM {table}" if verb == "DELETE" else f"UPDATE {table} SET id = id"
        _assert_refused(registry, sql)


def _assert_refused(registry, sql):
    with pytest.raises(DBAPIError, match="append-only"):
        with registry.engine.begin() as conn:
            conn.execute(text(sql))


def test_database_from_newer_govkit_is_refused(db_url, cli):
    reg = open_registry(db_url)
    with reg.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    reg.dispose()
    with pytest.raises(BadInput, match="newer govkit"):
        open_registry(db_url)
    res = cli("--db", db_url, "audit", "verify")
    assert res.code == 2
    assert res.err.count("\n") == 1 and "newer govkit" in res.err


@pytest.mark.parametrize(
    "url",
    ["not a url", "mysql://u@h/db", "postgresql://u@/"],
)
def test_malformed_or_unsupported_url_is_exit_2(cli, url):
    res = cli("--db", url, "audit", "verify")
    assert res.code == 2
    assert res.err.startswith("govkit: error:") and res.err.count("\n") == 1


def test_db_commands(cli, db_url):
    res = cli("--db", db_url, "db", "current", "--json")
    assert res.code == 0 and res.json() == {"revision": None, "head": head_revision(), "up_to_date": False}
    res = cli("--db", db_url, "db", "upgrade", "--json")
    assert res.code == 0 and res.json()["to"] == head_revision()
    assert cli("--db", db_url, "db", "current", "--json").json()["up_to_date"] is True
    hist = cli("--db", db_url, "db", "history", "--json").json()["revisions"]
    assert hist[-1]["down_revision"] is None and hist[0]["revision"] == head_revision()


def test_make_engine_rejects_unknown_backend():
    with pytest.raises(BadInput, match="unsupported database"):
        make_engine("oracle://scott@host/db")


def test_timestamps_come_back_with_their_zone(registry):
    """SQLite has no zone-aware type: govkit's column type still returns aware UTC times, and refuses naive ones."""
    import datetime as dt

    from sqlalchemy import select

    from govkit.registry import tables as m

    with registry.unit_of_work() as s:
        s.add(m.Model(name="tz"))
    with registry.unit_of_work() as s:
        created = s.scalar(select(m.Model.created_at))
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    with pytest.raises(Exception, match="zone-aware"):
        with registry.unit_of_work() as s:
            s.add(m.Model(name="naive", created_at=dt.datetime(2026, 1, 1)))
