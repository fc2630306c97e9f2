// Progressive enhancement only: every page works without it.
// A filter marked data-autosubmit submits its form when it changes.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.requestSubmit();
  }
});
