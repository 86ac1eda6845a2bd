// Expand an account row of the discount module to its units (no framework).
document.addEventListener("click", function (event) {
  const button = event.target.closest("#discount-accounts .toggle");
  if (!button) return;
  const rows = document.getElementById(button.dataset.target);
  const open = rows.hidden;
  rows.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  button.textContent = open ? "▾" : "▸";
});
