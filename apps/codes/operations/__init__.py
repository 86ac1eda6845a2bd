"""Every write on activation codes, the code log and expiry notices (SPEC §4, §8.5).

Each operation runs in one transaction, locks the code (``NOWAIT``: a code another request holds
answers 409 ``code_busy`` at once instead of queueing) and then the unit, validates, writes and
records its events in the same transaction. The jobs (expire, clear, notices) are set-based: a
bounded number of statements per batch, whatever the number of codes, and idempotent through
``SKIP LOCKED`` plus conditional updates, so two workers at once or a week of catch-up end in the
same state.

The operations live in modules by concern, the way zulip splits its actions: ``generation``,
``assignment``, ``queue`` (renewal queue), ``sharing``, ``admin_bulk``, ``sweep`` (expire and clear),
``billing_method``, ``hooks`` (called by other apps) and ``notices``, over the shared helpers of
``_common``. This package re-exports the operations, so callers write ``operations.assign_code``.
Tunables (``SWEEP_BATCH``, ``GENERATE_BATCH``…) and private steps are not re-exported: a test patches
them in the module that reads them (``operations.sweep.SWEEP_BATCH``).
"""

from .admin_bulk import assign_codes_bulk, pair_codes_with_units, run_each
from .assignment import apply_code, assign_code, reassign_code, unassign_code
from .billing_method import switch_billing_method
from .generation import generate_codes, queue_generation, run_generation_job
from .hooks import check_unit_move, return_codes_of_revoked_dealer, unassign_code_of_archived_unit
from .notices import create_notice, dismiss_delivery, send_expiry_notices, send_notice_email, update_notice
from .queue import pair_codes_with_queues, queue_code, queue_codes_bulk, unqueue_code
from .sharing import share_code, unshare_code
from .sweep import clear_expired_codes, expire_codes

__all__ = [
    "apply_code", "assign_code", "assign_codes_bulk", "check_unit_move", "clear_expired_codes", "create_notice",
    "dismiss_delivery", "expire_codes", "generate_codes", "pair_codes_with_queues", "pair_codes_with_units",
    "queue_code", "queue_codes_bulk", "queue_generation", "reassign_code", "return_codes_of_revoked_dealer",
    "run_each", "run_generation_job", "send_expiry_notices", "send_notice_email", "share_code",
    "switch_billing_method", "unassign_code", "unassign_code_of_archived_unit", "unqueue_code", "unshare_code",
    "update_notice",
]
