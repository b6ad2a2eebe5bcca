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
