// QueryLab's small amount of glue: Ctrl/Cmd+Enter runs the nearest form.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  const form = event.target.closest && event.target.closest("form[data-run-shortcut]");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button[data-shortcut-target]") || form.querySelector("button[type=submit]");
  if (button) button.click();
});
