"""Helpers the e2e tests import (fixtures stay in ``conftest.py``)."""



def pick(page, select: str, typed: str, choose: str | None = None):
    """Choose in a searchable picker (the admin's select2 autocomplete over ``select``): open it, type
    ``typed``, wait for the endpoint's answer and click the row whose text contains ``choose``."""
    container = page.locator(f"{select} + .select2")
    container.locator(".select2-selection").click()
    search = page.locator(".select2-container--open .select2-search__field")
    search.fill(typed)
    option = page.locator(".select2-container--open .select2-results__option:not(.loading-results)",
                          has_text=choose or typed).first
    option.wait_for()
    option.click()
