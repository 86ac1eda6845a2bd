"""The codes window in the browser, paged past its capped count (issue 11, item 8). The cap and the
page size are shrunk (30 counted, 10 a page) so 75 codes stand for a million."""

from datetime import timedelta

from apps.codes import operations as ops
from apps.codes.admin import ActivationCodeAdmin
from apps.codes.models import ActivationCode
from apps.core.admin import CappedPaginator
from apps.core import clock
from tests.codes.conftest import cw  # noqa: F401  (the codes world fixture)


def _codes_shown(page) -> list[str]:
    return [text.replace("\n", "").strip() for text in page.locator("#result_list code.activation-code").all_inner_texts()]


def test_paging_past_the_capped_count_by_next_previous_and_last(cw, login, shot, live_server, monkeypatch):  # noqa: F811
    monkeypatch.setattr(CappedPaginator, "CAP", 30)
    monkeypatch.setattr(ActivationCodeAdmin, "list_per_page", 10)
    now = clock.now()
    for hours in (3, 2, 1):
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=25, validity_days=30,
                           now=now - timedelta(hours=hours))
    codes = list(ActivationCode.objects.order_by("-created_at", "id").values_list("code", flat=True))

    page = login("top")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    assert _codes_shown(page) == codes[:10]
    assert "30+ activation codes" in page.inner_text("p.paginator")

    for number in (2, 3, 4, 5):  # 4 and 5 lie past the 30 counted codes
        page.click("p.paginator a.next-page")
        page.wait_for_load_state()
        assert page.locator("p.paginator .this-page").inner_text() == str(number)
        assert _codes_shown(page) == codes[(number - 1) * 10:number * 10]
    shot("codes-window-page-5-past-the-cap")

    page.click("p.paginator a.previous-page")
    page.wait_for_load_state()
    assert _codes_shown(page) == codes[30:40]

    page.click("p.paginator a.last-page")
    page.wait_for_load_state()
    assert _codes_shown(page) == codes[-10:]
    assert page.locator("p.paginator a.next-page").count() == 0
    assert "30+ activation codes" in page.inner_text("p.paginator")
    shot("codes-window-last-page")

    page.click("p.paginator a.previous-page")
    page.wait_for_load_state()
    assert _codes_shown(page) == codes[-20:-10]
    page.click("p.paginator a.first-page")
    page.wait_for_load_state()
    assert _codes_shown(page) == codes[:10]
    assert "Show all" not in page.content()

    # Filtered, the search bar's count is capped too and its link says what it does.
    page.goto(f"{live_server.url}/admin/codes/activationcode/?validity_days=30")
    assert "30+ results (clear the search and filters)" in page.inner_text("#changelist-search")
    page.locator("#action-toggle").check()
    assert "Select all 30+ activation codes" in page.inner_text(".actions")
    shot("codes-window-filtered-select-all")
