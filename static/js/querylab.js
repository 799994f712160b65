// QueryLab's small amount of glue: Ctrl/Cmd+Enter runs the nearest form.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  const form = event.target.closest && event.target.closest("form[data-run-shortcut]");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button[data-shortcut-target]") || form.querySelector("button[type=submit]");
  if (button) button.click();
});

// After htmx swaps a result in, focus moves to its verdict, so keyboard and screen-reader
// users land on what changed.
document.addEventListener("htmx:afterSwap", (event) => {
  // An outerHTML swap replaces the target: look it up again by its id.
  const target = event.detail.target;
  const root = (target && target.id && document.getElementById(target.id)) || target;
  const focus = root && root.querySelector && root.querySelector("[data-focus-after-swap]");
  if (focus) focus.focus();
});

// Any htmx request slower than 300 ms shows its elapsed seconds beside the button that sent it,
// and says so when the run must first build a dataset (data-cold-sizes: those not built yet).
function busyLabel(elt) {
  const cold = (elt.dataset.coldSizes || "").split(" ").filter(Boolean);
  const size = elt.querySelector && elt.querySelector("select[name=size]");
  const building = "coldAll" in elt.dataset ? cold : cold.filter((name) => size && size.value === name);
  if (!building.length) return elt.dataset.busyLabel || "Working";
  const names = building.length > 1 ? `${building.slice(0, -1).join(", ")} and ${building.at(-1)}` : building[0];
  return `Building the ${names} dataset${building.length > 1 ? "s" : ""} for a first run`;
}

document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  const button = elt && (elt.tagName === "BUTTON" ? elt : elt.tagName === "FORM" ? elt.querySelector("button[type=submit], button:not([type])") : null);
  if (!button) return;
  const label = busyLabel(elt.tagName === "FORM" ? elt : button);
  const started = performance.now();
  const status = document.createElement("span");
  status.className = "elapsed muted small";
  status.setAttribute("role", "status");
  button.after(status);
  const tick = () => {
    const seconds = (performance.now() - started) / 1000;
    if (seconds >= 0.3) status.textContent = `${label}… ${seconds.toFixed(1)} s`;
  };
  const timer = setInterval(tick, 100);
  elt.addEventListener("htmx:afterRequest", () => { clearInterval(timer); status.remove(); }, { once: true });
});
