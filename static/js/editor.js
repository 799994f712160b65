// Turns each <textarea data-editor="python"> into an Ace editor. The textarea stays
// the form field (kept in sync), so forms work the same with or without JavaScript.
(function () {
  if (!window.ace) return;
  ace.config.set("useStrictCSP", true);
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const theme = () => (dark.matches ? "ace/theme/tomorrow_night" : "ace/theme/github_light_default");

  document.querySelectorAll("textarea[data-editor]").forEach((textarea) => {
    const holder = document.createElement("div");
    holder.className = "code-editor";
    textarea.after(holder);
    textarea.hidden = true;
    const editor = ace.edit(holder, {
      mode: "ace/mode/" + textarea.dataset.editor,
      theme: theme(),
      value: textarea.value,
      minLines: 12,
      maxLines: 40,
      fontSize: "0.9rem",
      tabSize: 4,
      useSoftTabs: true,
      showPrintMargin: false,
      // Tab reaches the editor and Enter enters it; Escape leaves it, so Tab moves on (no keyboard trap).
      enableKeyboardAccessibility: true,
    });
    editor.clearSelection();
    editor.session.on("change", () => { textarea.value = editor.getValue(); });
    dark.addEventListener("change", () => editor.setTheme(theme()));
    editor.commands.addCommand({
      name: "run",
      bindKey: { win: "Ctrl-Enter", mac: "Command-Enter" },
      exec: () => {
        const form = textarea.form;
        const button = form && (form.querySelector("button[data-shortcut-target]") || form.querySelector("button[type=submit]"));
        if (button) button.click();
      },
    });
    if (textarea.dataset.autosave) {
      // The learner's code is saved a second after they stop typing (the starter clears the draft).
      let timer = null;
      editor.session.on("change", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const body = new FormData();
          body.append("code", editor.getValue());
          body.append("csrfmiddlewaretoken", textarea.form.querySelector("[name=csrfmiddlewaretoken]").value);
          fetch(textarea.dataset.autosave, { method: "POST", body, credentials: "same-origin" });
        }, 1000);
      });
    }
    const reset = textarea.form && textarea.form.querySelector("button[data-reset-to]");
    if (reset) {
      reset.type = "button";
      reset.addEventListener("click", () => { editor.setValue(reset.dataset.resetTo, -1); });
    }
    textarea.editor = editor;
  });
})();
