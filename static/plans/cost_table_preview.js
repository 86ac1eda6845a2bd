/* Live cost-table preview in the plan window: the price of the next object and the period's total.
 *
 * Asks POST /api/v1/cost-tables/evaluate/ (session auth + CSRF), so the server's parser is the only
 * one: the preview can never disagree with what is saved. For a count n it evaluates n + 1 positions:
 * the next object's price is position n + 1, and the total for n is the answer's total minus that
 * price (when it is allowed). Amounts are handled as integers of 1/10000 to avoid float rounding.
 */
(function () {
  "use strict";

  // The site's JavaScript catalogue (``site-jsi18n``) gives gettext() and interpolate() in the page's language.
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function units(text) {  // "12.5000" -> 125000n
    var negative = text.charAt(0) === "-";
    var parts = text.replace("-", "").split(".");
    var fraction = ((parts[1] || "") + "0000").slice(0, 4);
    var value = BigInt(parts[0]) * 10000n + BigInt(fraction);
    return negative ? -value : value;
  }

  function currencyPattern() {  // the plan's service's pattern, e.g. "€%.02f" (put in as text, as the server does)
    var panel = document.querySelector(".cost-calculator");
    var pattern = panel ? panel.getAttribute("data-currency") : "";
    return pattern && pattern.indexOf("%.02f") >= 0 ? pattern : "%.02f";
  }

  function separator(name, fallback) {  // the page language's (data-decimal, data-thousands), as format_money uses
    var panel = document.querySelector(".cost-calculator");
    var value = panel ? panel.getAttribute("data-" + name) : null;
    return value !== null && value !== "" ? value : fallback;
  }

  function money(value) {  // 12345000n -> "€1,234.50" / "€1 234,50" (2 places, half-up, thousands grouped)
    var abs = value < 0n ? -value : value;
    var cents = (abs + 50n) / 100n;
    var whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, separator("thousands", ","));
    var text = whole + separator("decimal", ".") + (cents % 100n).toString().padStart(2, "0");
    var shown = currencyPattern().replace("%.02f", (value < 0n && cents !== 0n ? "-" : "") + text);
    return shown.replace(/&/g, "&amp;").replace(/</g, "&lt;");  // the result goes into innerHTML
  }

  function describe(body, count) {
    var next = body.prices[count];
    var total = units(body.total) - (next === null ? 0n : units(next));
    var parts = [];
    parts.push(next === null
      ? interpolate(gettext("object %(n)s: <strong>denied</strong>"), {n: count + 1}, true)
      : interpolate(gettext("object %(n)s: <strong>%(price)s</strong>"), {n: count + 1, price: money(units(next))}, true));
    parts.push(interpolate(gettext("total for %(count)s: <strong>%(total)s</strong>"),
                           {count: count, total: money(total)}, true));
    if (units(body.flat_fee) !== 0n) {
      parts.push(interpolate(gettext("incl. flat fee %(fee)s"), {fee: money(units(body.flat_fee))}, true));
    }
    if (body.denied_from !== null) parts.push(interpolate(gettext("limit: %(limit)s"), {limit: body.denied_from - 1}, true));
    if (body.canonical !== undefined) parts.push(interpolate(gettext("canonical: %(table)s"), {
      table: "<code>" + (body.canonical || gettext("(empty: free, unlimited)")).replace(/</g, "&lt;") + "</code>"}, true));
    var text = parts.join(" · ");
    (body.warnings || []).forEach(function (warning) {  // a negative item that denies from some position
      text += '<span class="calc-warning" role="note">⚠ ' + warning.replace(/&/g, "&amp;").replace(/</g, "&lt;")
              + "</span>";
    });
    return text;
  }

  function evaluate(url, table, count, output) {
    if (!(count >= 0 && count < 10000)) {
      output.className = "calc-result error";
      output.textContent = gettext("Count: 0 to 9999.");
      return;
    }
    fetch(url, {
      method: "POST", credentials: "same-origin",
      // The page's language: the API answers an explicit Accept-Language, which the browser's own may not be.
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json",
                "Accept-Language": document.documentElement.lang || "en"},
      body: JSON.stringify({cost_table: table, count: count + 1})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (answer) {
      if (answer.ok) {
        output.className = "calc-result ok";
        output.innerHTML = describe(answer.body, count);
      } else {
        var fields = answer.body.fields || {};
        output.className = "calc-result error";
        output.textContent = (fields.cost_table || fields.count || [answer.body.detail]).join(" ");
      }
    }).catch(function () {
      output.className = "calc-result error";
      output.textContent = gettext("The calculator is unavailable.");
    });
  }

  function wire(tableInput, countInput, output, url) {
    var timer = null;
    function run() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        evaluate(url, tableInput.value, parseInt(countInput.value || "0", 10), output);
      }, 250);
    }
    tableInput.addEventListener("input", run);
    countInput.addEventListener("input", run);
    if (tableInput.value) run();
  }

  function evaluateUrl() {
    var panel = document.querySelector(".cost-calculator");
    return panel ? panel.getAttribute("data-evaluate-url") : "/api/v1/cost-tables/evaluate/";
  }

  function enhanceRow(input) {
    if (input.dataset.previewReady || /__prefix__/.test(input.name)) return;
    input.dataset.previewReady = "1";
    var box = document.createElement("span");
    box.className = "cost-preview";
    box.innerHTML = '<label>' + gettext("count") + ' <input type="number" class="calc-count" min="0" max="9999" value="10"></label>' +
                    '<output class="calc-result" aria-live="polite"></output>';
    input.parentNode.insertBefore(box, input.nextSibling);
    wire(input, box.querySelector(".calc-count"), box.querySelector("output"), evaluateUrl());
  }

  function enhanceAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll("input.cost-table-input"), enhanceRow);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.querySelector(".cost-calculator");
    if (panel) {
      wire(panel.querySelector(".calc-table"), panel.querySelector(".calc-count"),
           panel.querySelector(".calc-result"), panel.getAttribute("data-evaluate-url"));
    }
    enhanceAll(document);
  });
  document.addEventListener("formset:added", function (event) { enhanceAll(event.target); });
})();
