"""The audit trail (SPEC §9.2, §9.8; issue 13): the done scenario through the API, append-only guards,
the hash chain and ``verify_audit``, concurrent writers, readable values."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from apps.accounts import audit
from apps.accounts import operations as ops
from apps.accounts.models import Account, AuditEvent
from apps.core import guards
from apps.services import ledger
from tests.helpers import requires_postgres

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_done_scenario_through_the_api(world, as_user, time_machine):
    """Block and unblock with reasons, a payment, a revoked dealer right and a rotated token each appear
    once with actor and time; a distributor sees only its subtree; nothing can be edited."""
    time_machine.move_to(NOW, tick=False)
    client = as_user(world.top)
    account = world.north_client
    assert client.patch(f"/api/v1/accounts/{account.pk}/", {"blocked": True, "blocked_reason": "unpaid invoice"},
                        format="json").status_code == 200
    assert client.patch(f"/api/v1/accounts/{account.pk}/", {"blocked": False, "blocked_reason": "paid at last"},
                        format="json").status_code == 200
    assert client.post(f"/api/v1/accounts/{account.pk}/payments/",
                       {"amount": "25.5000", "days": 0, "description": "bank transfer 42"},
                       format="json").status_code == 201
    assert client.patch(f"/api/v1/accounts/{world.north_east.pk}/", {"dealer_rights": False},
                        format="json").status_code in (200, 400)
    leaf = Account.objects.create(name="Leaf dealer", parent=world.north, service=world.acme, plan=world.base_plan,
                                  dealer_rights=True, path="", depth=2)
    Account.objects.filter(pk=leaf.pk).update(path=f"{world.north.path}{leaf.pk}/")
    assert client.patch(f"/api/v1/accounts/{leaf.pk}/", {"dealer_rights": False}, format="json").status_code == 200
    assert client.post(f"/api/v1/operators/{world.north_op.pk}/token/").status_code in (200, 201)

    answer = client.get("/api/v1/audit-events/", {"since": (NOW - timedelta(minutes=1)).isoformat()}).json()
    rows = answer["results"]
    assert {"count", "next", "previous", "results"} <= answer.keys()
    by_action = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    for action in ("account_blocked", "account_unblocked", "payment_recorded", "dealer_rights_revoked",
                   "token_rotated"):
        assert len(by_action[action]) == 1, action
        assert by_action[action][0]["actor"] == "top"
        assert by_action[action][0]["at"].startswith("2026-12-01T09:00:00")
    assert by_action["account_blocked"][0]["reason"] == "unpaid invoice"
    assert by_action["account_unblocked"][0]["reason"] == "paid at last"
    assert by_action["account_blocked"][0]["subject"] == "North Client"
    assert by_action["account_blocked"][0]["account"] == {"id": account.pk, "name": "North Client"}
    assert by_action["payment_recorded"][0]["after"]["amount"] == "25.5000"
    assert by_action["payment_recorded"][0]["reason"] == "bank transfer 42"
    assert "key" not in str(by_action["token_rotated"][0]).lower().replace("token", "")
    assert by_action["dealer_rights_revoked"][0]["before"] == {"dealer_rights": True}

    # A distributor sees its subtree's events only; South sees none of North's.
    north_rows = as_user(world.north_op).get("/api/v1/audit-events/", {"page_size": 500}).json()["results"]
    assert north_rows and all(r["account"] and r["account"]["name"] in {"North", "North-East", "North Client",
                                                                          "North-East Client", "Leaf dealer"}
                              for r in north_rows)
    south_rows = as_user(world.south_op).get("/api/v1/audit-events/", {"page_size": 500}).json()["results"]
    assert not any("North" in (r["account"] or {}).get("name", "") for r in south_rows)
    assert as_user(world.other_top).get("/api/v1/audit-events/", {"action": "account_blocked"}).json()["count"] == 0
    client = as_user(world.top)  # one API client, authenticated again as the top user
    # Read-only: every write answers 405; an out-of-scope event is a 404.
    event_id = by_action["account_blocked"][0]["id"]
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(f"/api/v1/audit-events/{event_id}/", {}, format="json").status_code == 405
    assert as_user(world.south_op).get(f"/api/v1/audit-events/{event_id}/").status_code == 404
    client = as_user(world.top)
    # Filters: account with its subtree, actor, subject.
    sub = client.get("/api/v1/audit-events/", {"account": world.north.pk, "page_size": 500}).json()["results"]
    assert {r["id"] for r in sub} >= {by_action["account_blocked"][0]["id"]}
    assert client.get("/api/v1/audit-events/", {"actor": world.top.pk, "subject_type": "account",
                                                "subject_id": account.pk}).json()["count"] == 3
    assert client.get("/api/v1/audit-events/", {"account": "x"}).status_code == 400
    # The model refuses changes.
    event = AuditEvent.objects.get(pk=event_id)
    event.reason = "edited"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event_id).update(reason="x")
    # verify_audit passes on the untouched trail.
    call_command("verify_audit")


def test_values_are_readable_names_and_only_what_changed(world):
    ops.update_account(actor=world.platform, account=world.north_client, changes={"plan": world.dealer_plan,
                                                                                   "min_days": 3})
    plan_event = _events(action="account_plan_changed", subject_id=world.north_client.pk)[-1]
    assert (plan_event.before, plan_event.after) == ({"plan": "Base"}, {"plan": "Dealer"})
    updated = _events(action="account_updated", subject_id=world.north_client.pk)[-1]
    assert updated.before == {} and updated.after == {"min_days": 3}  # no "None → 3" shown as a before
    ops.update_account(actor=world.platform, account=world.north_client, changes={"name": "North Client"})
    assert len(_events(action="account_updated", subject_id=world.north_client.pk)) == 1  # x → x: no event
    for event in AuditEvent.objects.all():
        for values in (event.before, event.after):
            for key, value in values.items():
                assert not (key in event.before and key in event.after and event.before[key] == event.after[key])
                assert not key.endswith("_id")


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_guards_refuse_update_delete_truncate_and_verify_names_the_changed_row(world):
    ops.block_account(actor=world.top, account=world.south_client, reason="audit")
    event = AuditEvent.objects.get(action="account_blocked", subject_id=world.south_client.pk)
    for sql in (f"UPDATE accounts_auditevent SET reason = 'x' WHERE id = {event.pk}",
                f"DELETE FROM accounts_auditevent WHERE id = {event.pk}", "TRUNCATE accounts_auditevent"):
        with pytest.raises(Exception, match="pgtrigger"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    call_command("verify_audit")
    with transaction.atomic(), guards.lifted(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE accounts_auditevent SET reason = 'rewritten' WHERE id = {event.pk}")
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    results = dict((chain, bad) for chain, _, bad in audit.verify_chains())
    assert results[world.acme.pk] == event.pk


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_in_one_service_keep_one_chain(world):
    """Eight threads recording at once in one service: consecutive numbers, every hash over its predecessor."""
    accounts = [world.north_client, world.south_client, world.north_east_client, world.north]
    barrier = threading.Barrier(8)
    errors = []

    def write(i):
        try:
            barrier.wait()
            for n in range(10):
                ledger.record_payment(actor=world.top, account=accounts[i % 4], amount=Decimal("1"),
                                   description=f"thread {i} payment {n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = list(AuditEvent.objects.filter(chain=world.acme.pk).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert AuditEvent.objects.filter(action="payment_recorded").count() == 80
    assert all(bad is None for _, _, bad in audit.verify_chains())


def test_verify_job_records_its_result(world):
    from apps.accounts.tasks import verify_audit

    ops.block_account(actor=world.top, account=world.south_client, reason="job check")
    summary = verify_audit()
    assert summary[world.acme.pk]["intact"] is True
    run = AuditEvent.objects.filter(action="job_run", subject_name="verify_audit", service_id=world.acme.pk).get()
    assert run.actor_name == "verify_audit" and run.after["intact"] is True


def test_history_pages_show_the_objects_events(world, client):
    ops.block_account(actor=world.top, account=world.south_client, reason="history check")
    client.force_login(world.top)
    page = client.get(f"/admin/accounts/account/{world.south_client.pk}/history/")
    assert page.status_code == 200
    assert "history check" in page.content.decode() and "account_blocked" in page.content.decode()
    client.force_login(world.north_op)
    assert client.get(f"/admin/accounts/account/{world.south_client.pk}/history/").status_code in (302, 404)


def test_audit_log_page_filters_and_csv(world, client):
    ops.block_account(actor=world.top, account=world.south_client, reason="page check")
    client.force_login(world.top)
    page = client.get("/admin/audit/", {"action": "account_blocked"})
    body = page.content.decode()
    assert page.status_code == 200 and "page check" in body and "Europe/Berlin" in body
    csv = b"".join(client.get("/admin/audit/", {"format": "csv"}).streaming_content).decode()
    assert "account_blocked" in csv and "page check" in csv
    client.force_login(world.north_op)
    body = client.get("/admin/audit/").content.decode()
    assert "page check" not in body and "South" not in body
    client.force_login(world.north_restricted)
    assert client.get("/admin/audit/").status_code == 403


def test_every_public_operation_that_writes_records_an_event():
    """Walk every public operation of every app: a function that writes (a ``*.objects`` create/update/
    delete, ``.save(``, a bulk insert) must reach ``audit.record``/``record_many`` (itself or through the
    helper it calls), unless it is listed below with the reason it is not audited."""
    import ast
    import inspect
    import pkgutil
    from importlib import import_module

    not_audited = {
        "services.consume_service": "SPEC §9.8: a consume is not audited (its ledger rows are its record)",
        "services.move_objects": "the kernel's object counters, like consume",
        "services.reevaluate_blocking": "records through evaluate_blocking",
        "services.post_ledger_entry": "a ledger row, recorded by the payment or job that posts it",
        "services.post_ledger_entries": "the charging job's ledger rows: the job records job_run",
        "services.move_cached_totals": "cached sums of the ledger",
        "accounts.lock_account": "locks the row (select_for_update) and writes nothing",
        "codes.dismiss_delivery": "an operator hides a notice for itself",
        "codes.send_expiry_notices": "job; records job_run in its task",
        "codes.send_notice_email": "sends an e-mail already recorded",
        "discounts.save_snapshots": "derived figures, recomputable",
        "discounts.snapshot_discounts": "derived figures, recomputable",
        "codes.run_each": "calls the operations, which record",
        "codes.clear_expired_codes": "daily job: each code's 'cleared' row stays in the code log; its task records "
                                     "one job_run per service with the count",
    }
    writers = ("create(", "update(", "delete(", ".save(", "insert_rows(", "insert_select(", "bulk_create(",
               "_write_events(", "_record(", "_audit(", "audit.record")
    missing = []
    # Each app's modules of operations: ``operations`` (a package, as in codes: every module in it) and the
    # kernel's ledger and blocking rule.
    operation_modules = {"services": ("operations", "ledger", "blocking")}
    for app in ("accounts", "plans", "services", "units", "codes", "discounts"):
        modules = [import_module(f"apps.{app}.{name}") for name in operation_modules.get(app, ("operations",))]
        for module in list(modules):
            if hasattr(module, "__path__"):
                modules += [import_module(f"{module.__name__}.{info.name}")
                            for info in pkgutil.iter_modules(module.__path__)]
        bodies = {}
        for part in modules:
            source = inspect.getsource(part)
            bodies.update({node.name: ast.get_source_segment(source, node) for node in ast.parse(source).body
                           if isinstance(node, ast.FunctionDef)})

        def reaches(name, seen):
            body = bodies.get(name, "")
            if "audit.record" in body or "_write_events(" in body or "_record(" in body or "_audit(" in body \
                    or "_sweep_trail(" in body:
                return True
            seen.add(name)
            return any(callee not in seen and f"{callee}(" in body and reaches(callee, seen) for callee in bodies)

        for name, body in bodies.items():
            if name.startswith("_") or f"{app}.{name}" in not_audited:
                continue
            if any(w in body for w in writers) and not reaches(name, set()):
                missing.append(f"{app}.{name}")
    assert missing == []


def test_a_large_batch_copies_the_same_events_and_hashes(world):
    """More than ``_FEW`` events (one COPY on PostgreSQL, multi-row INSERTs elsewhere): every value comes back
    as written, names with tabs, newlines, backslashes and quotes included, and the chain verifies."""
    odd = 'tab\there, line\nbreak\r, back\\slash "quoted" — ünïcode'
    events = [audit.event("account_updated", actor=world.top, subject_type="account", subject_id=i,
                          subject_name=f"{odd} {i}", account=world.north,
                          before={"name": f"old\\{i}"}, after={"name": f"{odd} {i}", "n": i},
                          reason="a\tb" if i % 2 else "")
              for i in range(audit._FEW + 10)]
    with transaction.atomic():
        assert audit.record_many(events, now=NOW) == len(events)
    rows = _events(action="account_updated", subject_type="account")
    assert [(e.subject_name, e.before, e.after, e.reason, e.account_path, e.actor_id, e.at) for e in rows] == [
        (f"{odd} {i}", {"name": f"old\\{i}"}, {"name": f"{odd} {i}", "n": i}, "a\tb" if i % 2 else "",
         world.north.path, world.top.pk, NOW) for i in range(len(events))]
    assert [e.seq for e in rows] == list(range(rows[0].seq, rows[0].seq + len(rows)))
    assert all(bad is None for _, _, bad in audit.verify_chains())
