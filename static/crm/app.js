// Drag and drop on the pipeline board. Each card also has a plain "move to" form, which is what
// this submits, so the board works without JavaScript and with a keyboard.
document.addEventListener("dragstart", (event) => {
  const card = event.target.closest && event.target.closest(".deal-card");
  if (card) event.dataTransfer.setData("text/plain", card.id);
});
document.addEventListener("dragover", (event) => {
  const column = event.target.closest && event.target.closest(".board-column");
  if (column) { event.preventDefault(); column.classList.add("drop-target"); }
});
document.addEventListener("dragleave", (event) => {
  const column = event.target.closest && event.target.closest(".board-column");
  if (column) column.classList.remove("drop-target");
});
document.addEventListener("drop", (event) => {
  const column = event.target.closest && event.target.closest(".board-column");
  if (!column) return;
  event.preventDefault();
  column.classList.remove("drop-target");
  const card = document.getElementById(event.dataTransfer.getData("text/plain"));
  if (!card) return;
  const form = card.querySelector("form.move");
  form.querySelector("select[name=stage]").value = column.dataset.stage;
  form.requestSubmit();
});

// "Copy" buttons: <button data-copy="#id-of-the-text">. The text stays selectable without
// JavaScript; the button says "Copied" for a moment so the rep knows it worked.
document.addEventListener("click", async (event) => {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
  } catch {
    window.getSelection().selectAllChildren(source);  // no clipboard access: select it instead
    return;
  }
  const label = button.textContent;
  button.textContent = button.dataset.copied || "Copied";
  setTimeout(() => { button.textContent = label; }, 2000);
});
