// Keyboard shortcuts for the review pages (documented on each page). No key acts while the
// reviewer types in a field; a decision by key asks for confirmation first.
"use strict";

function typing(target) {
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function decideByKey(button) {
  if (!button) return;
  const item = document.querySelector("h1").firstChild.textContent.trim();
  if (window.confirm(button.value === "approve" ? `Approve ${item}?` : `Reject ${item}?`)) {
    button.form.requestSubmit(button);
  }
}

function moveRow(rows, step) {
  const current = rows.findIndex((row) => row.classList.contains("current"));
  const next = Math.min(rows.length - 1, Math.max(0, current + step));
  rows.forEach((row) => row.classList.remove("current"));
  rows[next].classList.add("current");
  rows[next].querySelector("a").focus();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const rows = Array.from(document.querySelectorAll("table.queue tbody tr"));
  const go = (id) => {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  };
  switch (event.key) {
    case "a":
      decideByKey(document.getElementById("approve"));
      break;
    case "r":
      decideByKey(document.getElementById("reject"));
      break;
    case "j":
      if (rows.length) moveRow(rows, 1);
      else go("next");
      break;
    case "k":
      if (rows.length) moveRow(rows, -1);
      else go("previous");
      break;
    case "c": {
      const comment = document.querySelector("textarea[name=comment]");
      if (comment) {
        event.preventDefault();
        comment.focus();
      }
      break;
    }
    case " ": {
      const player = document.getElementById("player");
      if (player) {
        event.preventDefault();
        if (player.paused) player.play();
        else player.pause();
      }
      break;
    }
    default:
      return;
  }
});

document.addEventListener("click", (event) => {
  const row = event.target.closest && event.target.closest("tr[data-href]");
  if (row && !event.target.closest("a")) window.location.assign(row.dataset.href);
});
