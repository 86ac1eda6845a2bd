"""What the account pages (admin, API) do or show through the apps above accounts, registered by those
apps (docs/architecture.md, "Layers"), the way ``apps.units.extensions`` serves the unit pages.

The account pages write a payment, switch a service's billing method, show the kernel's block warnings
and its combined settings, and filter on the dashboard's prediction; each of these belongs to an app
above accounts. That app registers it in its ``AppConfig.ready``:

- the kernel (``ServicesConfig.ready``, ``register_kernel``): ``record_payment`` (the ledger's),
  ``payment_block_warning(account, amount, days)`` (what the blocking rule will say after a payment),
  ``block_warnings(account_ids, now)`` (``{id: text}``), ``combined_rows(account)`` and
  ``service_rows(account)`` (the settings and services panels of the account page);
- the codes app (``CodesConfig.ready``, ``register_codes``): ``switch_billing_method``;
- the dashboard (``DashboardConfig.ready``, ``register_dashboard``): ``blocking_soon_ids(accounts, now)``.

Accounts never import these apps; every app is installed, so a page finds each one registered.
"""

kernel: dict = {}
codes: dict = {}
dashboard: dict = {}


def register_kernel(*, record_payment, payment_block_warning, block_warnings, combined_rows, service_rows) -> None:
    kernel.update(record_payment=record_payment, payment_block_warning=payment_block_warning,
                  block_warnings=block_warnings, combined_rows=combined_rows, service_rows=service_rows)


def register_codes(*, switch_billing_method) -> None:
    codes.update(switch_billing_method=switch_billing_method)


def register_dashboard(*, blocking_soon_ids) -> None:
    dashboard.update(blocking_soon_ids=blocking_soon_ids)
