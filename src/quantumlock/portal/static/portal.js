// The portal's one script (no inline script: the CSP allows this file only).
// Copy buttons: <button data-copy="ID"> copies the value of the field #ID.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.querySelector(`[data-copied-for="${button.dataset.copy}"]`);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
    if (status) status.textContent = "Copied to the clipboard.";
  } catch (_error) {
    field.select();
    if (status) status.textContent = "Select the text and copy it (Ctrl+C or ⌘C).";
  }
});
