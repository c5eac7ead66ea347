// Conveniences only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before a destructive button sends its form.
  document.addEventListener("submit", (event) => {
    const question = event.submitter && event.submitter.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
  // Bring a refusal into view and to the keyboard's attention.
  const problem = document.getElementById("problem");
  if (problem) problem.focus();
  // A box that narrows long tables to the rows containing what is typed.
  for (const table of document.querySelectorAll("table.filterable")) {
    const label = document.createElement("label");
    label.className = "table-filter field";
    label.textContent = "Find in this table";
    const input = document.createElement("input");
    input.type = "search";
    label.append(input);
    table.parentElement.before(label);
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      for (const row of table.tBodies[0].rows) {
        row.hidden = wanted !== "" && !row.textContent.toLowerCase().includes(wanted);
      }
    });
  }
});
