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

// Single sign-on (sso area): <input type="file" data-read-into="ID"> puts the chosen file's
// text into the textarea #ID (the form itself posts text only).
document.addEventListener("change", async (event) => {
  const input = event.target.closest("input[type=file][data-read-into]");
  if (!input || !input.files || !input.files[0]) return;
  const target = document.getElementById(input.dataset.readInto);
  if (target) target.value = await input.files[0].text();
});
