// The header's language switcher: choosing a language saves it at once (templates/admin/includes/language_switcher.html).
"use strict";
{
    const select = document.getElementById("language-switcher-select");
    if (select) {
        select.addEventListener("change", () => select.form.submit());
    }
}
